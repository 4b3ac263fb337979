"""`serverless package` for dev and prod, and what it generates: the CloudFormation templates and the zip.

The templates are checked by cfn-lint and by assertions on the resources `serverless deploy` would create; the zip
by its contents (our code with Python 3.13 byte code, Lambda-compatible wheels, nothing that does not belong).
"""

import json
import re
import subprocess
import sys
import zipfile
from pathlib import PurePosixPath

import pytest
import yaml
from deploy_support import CURSOR_SECRET, REPO, SERVERLESS, SERVICE, base_environment, run, strings_in

STAGES = ("dev", "prod")
# stage -> (log level, log retention, PITR, table policy, throttling rate, throttling burst)
EXPECTED = {
    "dev": ("DEBUG", 7, False, "Delete", 10, 20),
    "prod": ("INFO", 30, True, "Retain", 100, 200),
}


@pytest.fixture(params=STAGES, scope="module")
def package(request, packages):
    return packages(request.param)


# The build ----------------------------------------------------------------------------------------------------


def test_package_writes_templates_and_zip(package):
    names = {path.name for path in package.directory.iterdir()}
    assert {
        "cloudformation-template-create-stack.json",
        "cloudformation-template-update-stack.json",
        "serverless-state.json",
        f"{SERVICE}.zip",
    } <= names


def test_the_framework_is_the_pinned_osls_3():
    pinned = json.loads((REPO / "package.json").read_text())["devDependencies"]["osls"]
    assert re.fullmatch(r"3\.\d+\.\d+", pinned)  # exact pin, v3 line
    result = run([*SERVERLESS, "--version"], env=base_environment())
    assert f"osls version: {pinned}" in result.stdout, result.stdout + result.stderr


def test_package_byte_compiles_with_python_3_13(package):
    """scripts/byte_compile.py runs on the zip osls builds in .serverless/, for `package` and `deploy function`."""
    command = ["python3.13", "scripts/byte_compile.py", f".serverless/{SERVICE}.zip", ".serverless/api.zip"]
    assert package.hook_argv("after:package:createDeploymentArtifacts") == command
    assert package.hook_argv("after:deploy:function:packageFunction") == command
    match = re.search(r"byte-compile: (\d+) modules compiled for (\S+) in (\S+)", package.log)
    assert match, package.log[-3000:]
    assert match.group(2) == "cpython-313"
    assert int(match.group(1)) > 100
    assert match.group(3) == f".serverless/{SERVICE}.zip"


def test_pip_gets_lambda_wheels_without_docker(package):
    requirements = package.state["service"]["custom"]["pythonRequirements"]
    assert requirements["dockerizePip"] is False
    assert requirements["pipCmdExtraArgs"] == [
        "--platform",
        "manylinux2014_x86_64",
        "--implementation",
        "cp",
        "--python-version",
        "3.13",
        "--only-binary=:all:",
    ]
    assert requirements["noDeploy"] == ["boto3", "botocore", "s3transfer"]
    assert requirements.get("slim") is False


@pytest.mark.parametrize("template_name", ["create", "update"])
def test_cfn_lint_reports_nothing(package, template_name):
    template = package.directory / f"cloudformation-template-{template_name}-stack.json"
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", str(template)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_serverless_yml_has_no_short_form_intrinsics():
    """yaml.safe_load must read it: the application's tests build their tables from it."""
    text = (REPO / "serverless.yml").read_text()
    assert not re.search(r"(^|\s)!(Ref|GetAtt|Join|Sub|If|Equals|Select|Split)\b", text)
    document = yaml.safe_load(text)
    assert document["resources"]["Resources"]["EventsTable"]["Type"] == "AWS::DynamoDB::Table"


# The tables ---------------------------------------------------------------------------------------------------


def test_events_table(package):
    _, _, pitr, policy, _, _ = EXPECTED[package.stage]
    table = package.update_template["Resources"]["EventsTable"]
    properties = table["Properties"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert properties["TableName"] == f"{SERVICE}-events-{package.stage}"
    assert properties["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert sorted(properties["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "inbox_sort", "AttributeType": "S"},
        {"AttributeName": "inbox_tenant", "AttributeType": "S"},
        {"AttributeName": "pk", "AttributeType": "S"},
    ]
    assert properties["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "inbox",
            "KeySchema": [
                {"AttributeName": "inbox_tenant", "KeyType": "HASH"},
                {"AttributeName": "inbox_sort", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": pitr}
    assert table["DeletionPolicy"] == policy
    assert table["UpdateReplacePolicy"] == policy


def test_api_keys_table(package):
    _, _, pitr, policy, _, _ = EXPECTED[package.stage]
    table = package.update_template["Resources"]["ApiKeysTable"]
    properties = table["Properties"]
    assert properties["TableName"] == f"{SERVICE}-keys-{package.stage}"
    assert properties["KeySchema"] == [{"AttributeName": "key_hash", "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [{"AttributeName": "key_hash", "AttributeType": "S"}]
    assert "GlobalSecondaryIndexes" not in properties
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": pitr}
    assert table["DeletionPolicy"] == policy
    assert table["UpdateReplacePolicy"] == policy


def test_rate_limits_table(package):
    table = package.update_template["Resources"]["RateLimitsTable"]
    properties = table["Properties"]
    assert properties["TableName"] == f"{SERVICE}-ratelimits-{package.stage}"
    assert properties["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["DeletionPolicy"] == "Delete"  # per-minute counters: nothing worth keeping


def test_only_these_tables(package):
    assert set(package.resources("AWS::DynamoDB::Table")) == {"EventsTable", "ApiKeysTable", "RateLimitsTable"}


# The function -------------------------------------------------------------------------------------------------


def test_function_configuration(package):
    properties = package.function["Properties"]
    assert properties["Runtime"] == "python3.13"
    assert properties["Handler"] == "handlers/lambda_handler.handler"
    assert properties["MemorySize"] == 512
    assert properties["Timeout"] == 25 and properties["Timeout"] < 29  # API Gateway's integration limit
    assert properties["Architectures"] == ["x86_64"]
    assert "ReservedConcurrentExecutions" not in properties  # optional: off unless a stage sets it
    assert len(package.resources("AWS::Lambda::Function")) == 2  # ours, and osls's custom resource handler


def test_function_environment(package):
    log_level, *_ = EXPECTED[package.stage]
    variables = package.function["Properties"]["Environment"]["Variables"]
    assert variables == {
        "STAGE": package.stage,
        "DYNAMODB_TABLE_EVENTS": f"{SERVICE}-events-{package.stage}",
        "DYNAMODB_TABLE_KEYS": f"{SERVICE}-keys-{package.stage}",
        "DYNAMODB_TABLE_RATE_LIMITS": f"{SERVICE}-ratelimits-{package.stage}",
        "RATE_LIMIT_PER_MINUTE": "1000",
        "AUTH_MODE": "aws",
        "LOG_LEVEL": log_level,
        "CORS_ORIGINS": "*",
        "CURSOR_SECRET": CURSOR_SECRET,
    }
    assert all(isinstance(value, str) for value in variables.values())  # no Ref: offline would pass "[object Object]"
    assert not [name for name in variables if name.startswith("AWS_")]  # AWS_REGION & co. are Lambda's


def test_the_function_role_grants_only_what_the_code_uses(package):
    role = package.update_template["Resources"]["IamRoleLambdaExecution"]
    statements = [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    text = json.dumps(statements)
    assert '"*"' not in text  # the acceptance grep
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in strings_in(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), action
        for resource in strings_in(statement["Resource"]):
            assert resource.strip() != "*", resource
    dynamodb = [s for s in statements if any(a.startswith("dynamodb:") for a in s["Action"])]
    events_arn = {"Fn::GetAtt": ["EventsTable", "Arn"]}
    assert dynamodb == [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            "Resource": [events_arn],
        },
        {
            "Effect": "Allow",
            "Action": ["dynamodb:Query"],
            "Resource": [{"Fn::Join": ["", [events_arn, "/index/inbox"]]}],
        },
        {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": [{"Fn::GetAtt": ["ApiKeysTable", "Arn"]}]},
        {
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": [{"Fn::GetAtt": ["RateLimitsTable", "Arn"]}],
        },
    ]
    others = {a for s in statements if s not in dynamodb for a in s["Action"]}
    assert others == {"logs:CreateLogStream", "logs:CreateLogGroup", "logs:TagResource", "logs:PutLogEvents"}
    assert "ManagedPolicyArns" not in role["Properties"]


def test_log_groups_expire(package):
    _, retention, *_ = EXPECTED[package.stage]
    groups = package.resources("AWS::Logs::LogGroup")
    assert groups["ApiLogGroup"]["Properties"] == {
        "LogGroupName": f"/aws/lambda/{SERVICE}-{package.stage}-api",
        "RetentionInDays": retention,
    }
    assert groups["ApiGatewayLogGroup"]["Properties"]["RetentionInDays"] == retention  # access logs


# The API ------------------------------------------------------------------------------------------------------


def test_rest_api_proxies_everything_to_the_function(package):
    template = package.update_template["Resources"]
    assert not [r for r in template.values() if r["Type"].startswith("AWS::ApiGatewayV2::")]
    (api,) = package.resources("AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["Name"] == f"{SERVICE}-{package.stage}"
    (resource,) = package.resources("AWS::ApiGateway::Resource").values()
    assert resource["Properties"]["PathPart"] == "{proxy+}"
    methods = package.resources("AWS::ApiGateway::Method").values()
    assert len(methods) == 2
    for method in methods:
        properties = method["Properties"]
        assert properties["HttpMethod"] == "ANY"
        assert properties["Integration"]["Type"] == "AWS_PROXY"  # payload v1, what aws-wsgi reads
        assert "ApiLambdaFunction" in json.dumps(properties["Integration"]["Uri"])
    (deployment,) = package.resources("AWS::ApiGateway::Deployment").values()
    assert deployment["Properties"]["StageName"] == package.stage


def test_stage_settings_data_tracing_off_and_throttled(package):
    """osls and the after-deploy hook set these on the stage through the API (the rehearsal runs the hook)."""
    *_, rate, burst = EXPECTED[package.stage]
    logs = package.state["service"]["provider"]["logs"]["restApi"]
    assert logs == {"accessLogging": True, "executionLogging": False, "fullExecutionData": False}
    region = package.state["service"]["provider"]["region"]
    assert package.hook_argv("after:deploy:deploy") == [
        "node",
        "scripts/stage_settings.cjs",
        region,
        f"{SERVICE}-{package.stage}",
        package.stage,
        str(rate),
        str(burst),
        "",  # no --aws-profile: the default credentials chain
    ]


def test_outputs(package):
    outputs = package.update_template["Outputs"]
    assert outputs["EventsTableName"]["Value"] == {"Ref": "EventsTable"}
    assert outputs["ApiKeysTableName"]["Value"] == {"Ref": "ApiKeysTable"}
    assert outputs["RateLimitsTableName"]["Value"] == {"Ref": "RateLimitsTable"}
    endpoint = outputs["ServiceEndpoint"]["Value"]["Fn::Join"][1]
    assert {"Ref": "ApiGatewayRestApi"} in endpoint and endpoint[-1] == f"/{package.stage}"


def test_deployment_bucket_is_private_and_encrypted(package):
    bucket = package.create_template["Resources"]["ServerlessDeploymentBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]


# Per-stage parameters -----------------------------------------------------------------------------------------


def print_config(serverless_environment, *options) -> dict:
    result = run(
        [*SERVERLESS, "print", "--format", "json", *options],
        env=serverless_environment,
    )
    return json.loads(result.stdout[result.stdout.index("{") :])


def test_params_of_a_personal_stage_and_overrides(serverless_environment):
    config = print_config(serverless_environment, "--stage", "alice", "--param=reservedConcurrency=5")
    function = config["functions"]["api"]
    assert function["reservedConcurrency"] == 5
    assert config["provider"]["environment"]["DYNAMODB_TABLE_EVENTS"] == f"{SERVICE}-events-alice"
    assert config["provider"]["environment"]["LOG_LEVEL"] == "INFO"  # the default block
    assert config["provider"]["logRetentionInDays"] == 7
    assert config["resources"]["Resources"]["EventsTable"]["DeletionPolicy"] == "Delete"


def test_packaging_needs_the_cursor_secret(serverless_environment):
    env = {k: v for k, v in serverless_environment.items() if k != "TRIGGERS_CURSOR_SECRET"}
    result = subprocess.run(
        [*SERVERLESS, "print", "--stage", "dev"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode != 0
    assert 'Cannot resolve variable at "params.default.cursorSecret"' in result.stdout + result.stderr


# The zip ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zip_names(dev_package):
    with zipfile.ZipFile(dev_package.zip_path) as archive:
        return archive.namelist()


def test_zip_holds_only_the_app_and_its_dependencies(zip_names):
    tops = {PurePosixPath(name).parts[0] for name in zip_names}
    assert {"handlers", "triggers", "openapi.yaml", "connexion", "awsgi"} <= tops
    for unwanted in ("tests", "node_modules", "docs", "bench", "scripts", ".git", ".venv", ".serverless", "build"):
        assert unwanted not in tops, unwanted
    for name in zip_names:
        path = PurePosixPath(name)
        assert not path.name.startswith(".env"), name
        assert path.name not in ("serverless.yml", "package.json", "package-lock.json", "conftest.py"), name
    assert not tops & {"boto3", "botocore", "s3transfer"}  # noDeploy: the runtime has them


def test_zip_has_python_3_13_byte_code_and_no_other(zip_names):
    pycs = [name for name in zip_names if name.endswith((".pyc", ".pyo"))]
    assert pycs and all(name.endswith(".cpython-313.pyc") for name in pycs)
    sources = [name for name in zip_names if name.endswith(".py")]
    for source in sources:
        path = PurePosixPath(source)
        if source.startswith(("handlers/", "triggers/")):
            assert str(path.parent / "__pycache__" / f"{path.stem}.cpython-313.pyc") in zip_names, source
    assert len(pycs) >= 0.95 * len(sources)  # a module that cannot compile is reported at package time


def test_zip_native_code_is_for_lambda(dev_package, zip_names):
    native = [name for name in zip_names if name.endswith(".so")]
    assert native  # pyyaml, rpds-py, charset-normalizer, markupsafe
    for name in native:
        assert name.endswith((".cpython-313-x86_64-linux-gnu.so", ".abi3.so")), name
    with zipfile.ZipFile(dev_package.zip_path) as archive:
        for name in zip_names:
            if name.endswith(".dist-info/WHEEL"):
                tags = re.findall(r"^Tag: (\S+)$", archive.read(name).decode(), re.MULTILINE)
                assert tags and all(
                    (tag.startswith("py") and tag.endswith("-none-any"))
                    or re.fullmatch(r"(cp313-cp313|cp3\d+-abi3)-manylinux\w*_x86_64", tag)
                    for tag in tags
                ), (name, tags)


def test_zip_fits_lambda(dev_package, zip_names):
    zipped = dev_package.zip_path.stat().st_size
    with zipfile.ZipFile(dev_package.zip_path) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    mib = 2**20
    print(f"\n{SERVICE}.zip: {zipped / mib:.1f} MiB zipped, {unzipped / mib:.1f} MiB unzipped, {len(zip_names)} files")
    assert zipped < 50 * 2**20 and unzipped < 250 * 2**20  # Lambda's limits for a zip uploaded through S3
