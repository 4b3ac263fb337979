"""scripts/console_deploy.py (`make console-deploy STAGE=...`) against moto: it finds the stage's bucket, API and
distribution in the stack's outputs, uploads the build with the right types and caching, writes config.json with
the stage's API URL, and invalidates what changes under the same name."""

import json

import boto3
import pytest
from moto import mock_aws

from scripts import console_deploy

STAGE = "qa"
API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/qa"


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


@pytest.fixture
def stack(aws):
    """A stack of the stage with the outputs serverless.yml declares (the distribution made apart: moto's
    CloudFormation does not create one)."""
    distribution = aws.client("cloudfront").create_distribution(
        DistributionConfig={
            "CallerReference": "console",
            "Comment": "",
            "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "b.s3.amazonaws.com"}]},
            "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "redirect-to-https"},
        }
    )["Distribution"]
    template = {
        "Resources": {"ConsoleBucket": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {
            "ServiceEndpoint": {"Value": API_URL},
            "ConsoleBucketName": {"Value": {"Ref": "ConsoleBucket"}},
            "ConsoleDistributionId": {"Value": distribution["Id"]},
        },
    }
    cloudformation = aws.client("cloudformation")
    cloudformation.create_stack(StackName=f"triggers-api-{STAGE}", TemplateBody=json.dumps(template))
    return {**console_deploy.stack_outputs(cloudformation, STAGE), "domain": distribution["DomainName"]}


@pytest.fixture
def build(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>console</title>")
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    (tmp_path / "assets" / "index-abc.css").write_text("body{}")
    (tmp_path / "config.json").write_text('{"api_url": "http://127.0.0.1:3000"}')  # the build's default: replaced
    return tmp_path


def test_uploads_the_build_and_the_stages_config_then_invalidates_what_changes(aws, stack, build):
    url = console_deploy.deploy(aws, STAGE, build)

    assert url == f"https://{stack['domain']}/"
    s3 = aws.client("s3")
    bucket = stack["ConsoleBucketName"]
    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["assets/index-abc.css", "assets/index-abc.js", "config.json", "index.html"]
    objects = {key: s3.get_object(Bucket=bucket, Key=key) for key in keys}
    assert json.loads(objects["config.json"]["Body"].read()) == {"api_url": API_URL}
    assert {key: (o["ContentType"], o["CacheControl"]) for key, o in objects.items()} == {
        "assets/index-abc.css": ("text/css", console_deploy.IMMUTABLE),
        "assets/index-abc.js": ("text/javascript", console_deploy.IMMUTABLE),
        "config.json": ("application/json", "no-cache"),
        "index.html": ("text/html", "no-cache"),
    }
    (invalidation,) = aws.client("cloudfront").list_invalidations(DistributionId=stack["ConsoleDistributionId"])[
        "InvalidationList"
    ]["Items"]
    details = aws.client("cloudfront").get_invalidation(
        DistributionId=stack["ConsoleDistributionId"], Id=invalidation["Id"]
    )
    assert sorted(details["Invalidation"]["InvalidationBatch"]["Paths"]["Items"]) == [
        "/",
        "/config.json",
        "/index.html",
    ]


def test_refuses_an_unbuilt_console_and_a_stack_without_the_console(aws, stack, tmp_path):
    with pytest.raises(console_deploy.ConsoleDeployError, match="run `make console` first"):
        console_deploy.deploy(aws, STAGE, tmp_path)
    (tmp_path / "index.html").write_text("")
    aws.client("cloudformation").create_stack(
        StackName="triggers-api-old",
        TemplateBody=json.dumps(
            {"Resources": {"B": {"Type": "AWS::S3::Bucket"}}, "Outputs": {"ServiceEndpoint": {"Value": API_URL}}}
        ),
    )
    with pytest.raises(console_deploy.ConsoleDeployError, match="has no ConsoleBucketName, ConsoleDistributionId"):
        console_deploy.deploy(aws, "old", tmp_path)


def test_failures_are_one_line_and_exit_status_1(aws, tmp_path, capsys):
    assert console_deploy.main(["--stage", STAGE, "--build", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"error: {tmp_path} has no index.html: run `make console` first\n"
    (tmp_path / "index.html").write_text("")
    assert console_deploy.main(["--stage", "never-deployed", "--build", str(tmp_path)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: AWS refused: ValidationError") and "triggers-api-never-deployed" in line


def test_help_describes_the_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        console_deploy.main(["--help"])
    assert exit_info.value.code == 0
    assert "config.json" in capsys.readouterr().out
