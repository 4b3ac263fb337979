"""scripts/rollback.py (`make rollback`) against moto's server: a stack deployed twice the way osls deploys, each
deploy's template in the deployment bucket where osls keeps it, then rolled back to the first.

The stack is small (the deployment bucket, a table, a topic) and its own per test: what is checked is the rollback's
part (which deploys exist, the template it applies, the tables it keeps, the update it waits for), not osls's
template, which test_deploy_package and the rehearsal check. moto applies a DynamoDB table's update as nothing, so the
tables are checked in the templates the stack was given; the topic's display name shows which deploy runs.
"""

import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from itertools import count

import boto3
import pytest
from deploy_support import FAKE_CREDENTIALS, REGION, REPO, aws_client, base_environment

from scripts import rollback
from scripts.rollback import ALL_AT_ONCE, Rollback, RollbackError, rollback_template

FIRST, SECOND = "1764500000000", "1764586400000"
numbers = count()


def template(deploy: str, stage: str, *, index: bool) -> dict:
    """A deploy's template: the topic's display name says which deploy; the second adds an index to the table."""
    table: dict = {
        "TableName": f"triggers-api-events-{stage}",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    }
    if index:
        table["AttributeDefinitions"].append({"AttributeName": "tenant", "AttributeType": "S"})
        table["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "by_tenant",
                "KeySchema": [{"AttributeName": "tenant", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "ServerlessDeploymentBucket": {"Type": "AWS::S3::Bucket"},
            "EventsTable": {"Type": "AWS::DynamoDB::Table", "Properties": table},
            "AlarmTopic": {
                "Type": "AWS::SNS::Topic",
                "Properties": {"TopicName": f"triggers-api-alarms-{stage}", "DisplayName": f"deploy {deploy}"},
            },
        },
        "Outputs": {"AlarmTopicArn": {"Value": {"Ref": "AlarmTopic"}}},
    }


def directory(version: str, stage: str) -> str:
    when = datetime.fromtimestamp(int(version) / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return f"serverless/triggers-api/{stage}/{version}-{when}/"


@pytest.fixture
def deployed(moto_server):
    """A stage deployed twice (FIRST, then SECOND), as osls leaves it: (stage, bucket)."""
    stage = f"rb{next(numbers)}"
    cloudformation, s3 = aws_client("cloudformation", moto_server), aws_client("s3", moto_server)
    name = f"triggers-api-{stage}"
    first, second = template(FIRST, stage, index=False), template(SECOND, stage, index=True)
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(first))
    bucket = cloudformation.describe_stack_resource(StackName=name, LogicalResourceId="ServerlessDeploymentBucket")[
        "StackResourceDetail"
    ]["PhysicalResourceId"]
    s3.put_object(Bucket=bucket, Key=directory(FIRST, stage) + rollback.TEMPLATE, Body=json.dumps(first).encode())
    cloudformation.update_stack(StackName=name, TemplateBody=json.dumps(second))
    s3.put_object(Bucket=bucket, Key=directory(SECOND, stage) + rollback.TEMPLATE, Body=json.dumps(second).encode())
    s3.put_object(Bucket=bucket, Key=directory(SECOND, stage) + "triggers-api.zip", Body=b"zip")
    return stage, bucket


def run(moto_server, *args: str, ask=lambda prompt: "") -> tuple[int, str, str]:
    session = boto3.Session(region_name=REGION, **{k.lower(): v for k, v in FAKE_CREDENTIALS.items()})
    out, err = io.StringIO(), io.StringIO()
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = rollback.main([*args, "--endpoint-url", moto_server, "--poll-seconds", "0.1"], session, ask)
    finally:
        sys.stdout, sys.stderr = stdout, stderr
    return code, out.getvalue(), err.getvalue()


def topic_name_shown(moto_server, stage: str) -> str:
    sns = aws_client("sns", moto_server)
    arn = next(t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(f"alarms-{stage}"))
    return sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"]


def applied(moto_server, stage: str) -> dict:
    body = aws_client("cloudformation", moto_server).get_template(StackName=f"triggers-api-{stage}")["TemplateBody"]
    return body if isinstance(body, dict) else json.loads(body)


def test_help_says_what_it_does():
    result = subprocess.run(
        [sys.executable, "-m", "scripts.rollback", "--help"],
        cwd=REPO,
        env=base_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    for option in ("--stage", "--version", "--list", "--endpoint-url", "--yes", "--dry-run", "--keep-canary"):
        assert option in result.stdout


def test_a_version_is_a_timestamp_in_milliseconds(moto_server, capsys):
    with pytest.raises(SystemExit) as exit_:
        rollback.main(["--stage", "dev", "--version", "yesterday"])
    assert exit_.value.code == 2
    assert "13 digits" in capsys.readouterr().err


def test_list_shows_the_deploys_kept_and_which_one_runs(moto_server, deployed):
    stage, bucket = deployed
    code, out, err = run(moto_server, "--stage", stage, "--list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"Deploys of triggers-api-{stage} in s3://{bucket}, newest first:"
    assert lines[1].split()[0] == SECOND and lines[1].endswith("(the stack runs this one)")
    assert lines[2].split()[0] == FIRST and "runs" not in lines[2]


def test_rollback_applies_the_old_deploy_but_keeps_the_tables(moto_server, deployed):
    stage, bucket = deployed
    assert topic_name_shown(moto_server, stage) == f"deploy {SECOND}"
    code, out, err = run(moto_server, "--stage", stage, "--version", FIRST, "--yes")
    assert code == 0, out + err
    assert topic_name_shown(moto_server, stage) == f"deploy {FIRST}"  # the first deploy's configuration runs again
    now = applied(moto_server, stage)["Resources"]
    assert now["AlarmTopic"] == template(FIRST, stage, index=False)["Resources"]["AlarmTopic"]
    # The table is the second deploy's, index included: a rollback never touches a table.
    assert now["EventsTable"] == template(SECOND, stage, index=True)["Resources"]["EventsTable"]
    assert f"stack triggers-api-{stage}: UPDATE_COMPLETE" in out
    assert "tables changed since that deploy, kept as they are now (tables are never rolled back): EventsTable" in out
    assert "code: every zip of that deploy is in the bucket" in out
    assert f"template: s3://{bucket}/{directory(FIRST, stage)}{rollback.ROLLBACK_TEMPLATE}" in out
    assert out.strip().endswith(f"rolled back: triggers-api-{stage} runs the code and configuration of deploy {FIRST}")
    # Once more is nothing to do; the list says which deploy runs.
    code, out, err = run(moto_server, "--stage", stage, "--version", FIRST, "--yes")
    assert code == 1 and f"the stack already runs deploy {FIRST}" in err
    _, out, _ = run(moto_server, "--stage", stage, "--list")
    assert [line.endswith("(the stack runs this one)") for line in out.splitlines()[1:]] == [False, True]


def test_dry_run_and_unknown_deploys_change_nothing(moto_server, deployed):
    stage, _ = deployed
    code, out, _ = run(moto_server, "--stage", stage, "--version", FIRST, "--dry-run")
    assert code == 0 and out.strip().endswith("dry run: nothing was changed")
    code, _, err = run(moto_server, "--stage", stage, "--version", "1700000000000", "--yes")
    assert code == 1 and f"(the ones kept: {SECOND}, {FIRST})" in err
    assert topic_name_shown(moto_server, stage) == f"deploy {SECOND}"


def test_prod_asks_first(moto_server):
    code, _, err = run(moto_server, "--stage", "prod", "--version", FIRST)
    assert code == 1 and "no stack triggers-api-prod" in err  # nothing on this server to roll back
    with pytest.raises(RollbackError, match="not confirmed"):
        rollback.confirm("prod", FIRST, yes=False, ask=lambda prompt: "no")
    rollback.confirm("prod", FIRST, yes=False, ask=lambda prompt: "prod")

    def no_terminal(prompt):
        raise EOFError

    with pytest.raises(RollbackError, match="pass --yes"):
        rollback.confirm("prod", FIRST, yes=False, ask=no_terminal)
    rollback.confirm("staging", FIRST, yes=False, ask=lambda prompt: pytest.fail("asked on staging"))


def test_the_code_of_the_deploy_must_still_be_there(moto_server, deployed):
    stage, bucket = deployed
    s3 = aws_client("s3", moto_server)
    function = {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"S3Key": directory(FIRST, stage) + "x.zip"}}}
    checker = Rollback(aws_client("cloudformation", moto_server), s3, stage, REGION, out=io.StringIO())
    with pytest.raises(RollbackError, match="the code of ApiLambdaFunction is gone from the bucket"):
        checker.check_code(bucket, {"Resources": {"ApiLambdaFunction": function}})


class SettlingStack:
    """describe_stacks of a stack in the middle of a deploy."""

    def describe_stacks(self, StackName):
        return {"Stacks": [{"StackName": StackName, "StackStatus": "UPDATE_IN_PROGRESS"}]}


def test_a_deploy_in_flight_is_not_rolled_back_over():
    with pytest.raises(RollbackError, match="stop-deployment --auto-rollback-enabled"):
        Rollback(SettlingStack(), None, "prod", REGION, out=io.StringIO()).plan(FIRST)


def test_the_template_shifts_at_once_and_refuses_tables_gone():
    group = {"Type": "AWS::CodeDeploy::DeploymentGroup", "Properties": {"DeploymentConfigName": "x"}}
    old = {"Resources": {"ApiLambdaFunctionDeploymentGroup": group}}
    made, changed, added, groups = rollback_template(old, {"Resources": {}})
    assert made["Resources"]["ApiLambdaFunctionDeploymentGroup"]["Properties"]["DeploymentConfigName"] == ALL_AT_ONCE
    assert (changed, added, groups) == ([], [], ["ApiLambdaFunctionDeploymentGroup"])
    kept, *_ = rollback_template(old, {"Resources": {}}, keep_canary=True)
    assert kept == old
    table = {"Type": "AWS::DynamoDB::Table", "Properties": {}}
    with pytest.raises(RollbackError, match=r"tables the stack no longer has \(JobsTable\)"):
        rollback_template({"Resources": {"JobsTable": table}}, {"Resources": {}})
