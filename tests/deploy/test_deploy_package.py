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
from deploy_support import CORS_ORIGINS, REPO, SERVERLESS, SERVICE, base_environment, run, strings_in

STAGES = ("dev", "prod")
PK_SK = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
# stage -> (log level, log retention, PITR, table policy, throttling rate, throttling burst)
EXPECTED = {
    "dev": ("DEBUG", 7, False, "Delete", 10, 20),
    "prod": ("INFO", 30, True, "Retain", 100, 200),
}
# stage -> (CORS origins, the API's reserved concurrency, the WAF rate limit per client IP and 5 minutes)
EDGE = {
    "dev": ("*", None, 0),
    "prod": (CORS_ORIGINS, 50, 3000),
}
# S3's four switches that keep a bucket private, whatever a policy or an ACL says.
ALL_PUBLIC_ACCESS_BLOCKED = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}
# A personal stage packaged with the options that are off by default turned on.
CONSOLE_CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0f8fad5b-d9cb-469f-a165-70867728950e"
OPTIONS = (
    "tracing=true",
    "wafRateLimit=500",
    "alarmEmail=ops@example.com",
    "consoleDomain=console.example.com",
    f"consoleCertificateArn={CONSOLE_CERTIFICATE}",
)


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
    listing = ["list_tenant", "list_source", "list_type", "list_source_type"]
    assert sorted(properties["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": name, "AttributeType": "S"}
        for name in sorted(["inbox_sort", "inbox_tenant", "pk", "list_sort", *listing])
    ]
    assert properties["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "inbox",
            "KeySchema": [
                {"AttributeName": "inbox_tenant", "KeyType": "HASH"},
                {"AttributeName": "inbox_sort", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        },
        *(
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": name, "KeyType": "HASH"},
                    {"AttributeName": "list_sort", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},  # GET /v1/events reads the items by key
            }
            for name in listing
        ),
    ]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": pitr}
    assert properties["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}  # the fan-out's source
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


def test_subscriptions_table(package):
    _, _, pitr, policy, _, _ = EXPECTED[package.stage]
    table = package.update_template["Resources"]["SubscriptionsTable"]
    properties = table["Properties"]
    assert properties["TableName"] == f"{SERVICE}-subscriptions-{package.stage}"
    assert properties["KeySchema"] == PK_SK
    assert "GlobalSecondaryIndexes" not in properties
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert "TimeToLiveSpecification" not in properties  # a subscription lives until it is deleted
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": pitr}
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == (policy, policy)


def test_deliveries_table(package):
    _, _, pitr, policy, _, _ = EXPECTED[package.stage]
    table = package.update_template["Resources"]["DeliveriesTable"]
    properties = table["Properties"]
    assert properties["TableName"] == f"{SERVICE}-deliveries-{package.stage}"
    assert properties["KeySchema"] == PK_SK
    assert {i["IndexName"]: (i["KeySchema"], i["Projection"]) for i in properties["GlobalSecondaryIndexes"]} == {
        "visible": (
            [{"AttributeName": "lane", "KeyType": "HASH"}, {"AttributeName": "visible_at", "KeyType": "RANGE"}],
            {"ProjectionType": "ALL"},
        ),
        "dead": (
            [{"AttributeName": "dead_sub", "KeyType": "HASH"}, {"AttributeName": "dead_sort", "KeyType": "RANGE"}],
            {"ProjectionType": "ALL"},
        ),
    }
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}  # the event's
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": pitr}
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == (policy, policy)


def test_jobs_table(package):
    table = package.update_template["Resources"]["JobsTable"]
    properties = table["Properties"]
    assert properties["TableName"] == f"{SERVICE}-jobs-{package.stage}"
    assert properties["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert "PointInTimeRecoverySpecification" not in properties  # week-long progress records (CKV_AWS_28)
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Delete", "Delete")


def test_only_these_tables(package):
    assert set(package.resources("AWS::DynamoDB::Table")) == {
        "EventsTable",
        "ApiKeysTable",
        "RateLimitsTable",
        "SubscriptionsTable",
        "DeliveriesTable",
        "JobsTable",
        "AuditTable",
    }


def test_audit_table(package):
    _, _, pitr, policy, _, _ = EXPECTED[package.stage]
    table = package.update_template["Resources"]["AuditTable"]
    properties = table["Properties"]
    assert properties["TableName"] == f"{SERVICE}-audit-{package.stage}"
    assert properties["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": pitr}
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == (policy, policy)


# The queues ---------------------------------------------------------------------------------------------------


def test_queues(package):
    queues = package.resources("AWS::SQS::Queue")
    assert set(queues) == {
        "JobsQueue",
        "JobsDeadLetterQueue",
        "PushQueue",
        "PushDeadLetterQueue",
        "FanoutFailuresQueue",
    }
    for function, queue in (("jobs", "Jobs"), ("deliver", "Push")):
        properties = queues[f"{queue}Queue"]["Properties"]
        kind = queue.lower()
        assert properties["QueueName"] == f"{SERVICE}-{kind}-{package.stage}"
        assert properties["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [f"{queue}DeadLetterQueue", "Arn"]},
            "maxReceiveCount": 5,
        }
        # A message must stay invisible while its function works on it (AWS advises six times its timeout).
        timeout = package.function_of(function)["Properties"]["Timeout"]
        assert properties["VisibilityTimeout"] >= 6 * timeout
        dead_letters = queues[f"{queue}DeadLetterQueue"]["Properties"]["QueueName"]
        assert dead_letters == f"{SERVICE}-{kind}-dlq-{package.stage}"
    assert queues["FanoutFailuresQueue"]["Properties"]["QueueName"] == f"{SERVICE}-fanout-failures-{package.stage}"
    for name in ("JobsDeadLetterQueue", "PushDeadLetterQueue", "FanoutFailuresQueue"):
        properties = queues[name]["Properties"]
        assert properties["MessageRetentionPeriod"] == 1209600  # 14 days, SQS's longest: time to replay
        assert "RedrivePolicy" not in properties
    for name, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name  # SSE-SQS (CKV_AWS_27, docs/deploy.md)
        assert "KmsMasterKeyId" not in queue["Properties"], name
        assert "DeletionPolicy" not in queue  # nothing to keep: a new stack starts with empty queues


# The stream and queue functions' event sources ----------------------------------------------------------------


def test_the_fanout_reads_the_events_stream(package):
    mappings = package.resources("AWS::Lambda::EventSourceMapping")
    assert set(mappings) == {
        "FanoutEventSourceMappingDynamodbEventsTable",
        "JobsEventSourceMappingSQSJobsQueue",
        "DeliverEventSourceMappingSQSPushQueue",
    }
    properties = mappings["FanoutEventSourceMappingDynamodbEventsTable"]["Properties"]
    assert properties == {
        "BatchSize": 100,
        "Enabled": True,
        "EventSourceArn": {"Fn::GetAtt": ["EventsTable", "StreamArn"]},
        "FunctionName": {"Fn::GetAtt": ["FanoutLambdaFunction", "Arn"]},
        "StartingPosition": "TRIM_HORIZON",
        "MaximumRetryAttempts": 10,
        "BisectBatchOnFunctionError": True,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": ["FanoutFailuresQueue", "Arn"]}}},
    }


def test_the_jobs_function_reads_the_jobs_queue(package):
    properties = package.resources("AWS::Lambda::EventSourceMapping")["JobsEventSourceMappingSQSJobsQueue"][
        "Properties"
    ]
    assert properties == {
        "BatchSize": 1,
        "EventSourceArn": {"Fn::GetAtt": ["JobsQueue", "Arn"]},
        "FunctionName": {"Fn::GetAtt": ["JobsLambdaFunction", "Arn"]},
        "Enabled": True,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }


def test_the_deliver_function_reads_the_push_queue_ten_at_a_time(package):
    properties = package.resources("AWS::Lambda::EventSourceMapping")["DeliverEventSourceMappingSQSPushQueue"][
        "Properties"
    ]
    assert properties == {
        "BatchSize": 10,
        "EventSourceArn": {"Fn::GetAtt": ["PushQueue", "Arn"]},
        "FunctionName": {"Fn::GetAtt": ["DeliverLambdaFunction", "Arn"]},
        "Enabled": True,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }


# The function -------------------------------------------------------------------------------------------------


def test_function_configuration(package):
    properties = package.function["Properties"]
    assert properties["Runtime"] == "python3.13"
    assert properties["Handler"] == "handlers/lambda_handler.handler"
    assert properties["MemorySize"] == 512
    assert properties["Timeout"] == 25 and properties["Timeout"] < 29  # API Gateway's integration limit
    assert properties["Architectures"] == ["x86_64"]
    _, reserved, _ = EDGE[package.stage]
    assert properties.get("ReservedConcurrentExecutions") == reserved  # prod only: caps a flood, guarantees capacity
    assert "TracingConfig" not in properties  # X-Ray is a stage option, off by default
    # No custom resource function: the account's API Gateway logging role is set once by an operator.
    assert set(package.resources("AWS::Lambda::Function")) == {
        "ApiLambdaFunction",
        "FanoutLambdaFunction",
        "JobsLambdaFunction",
        "DeliverLambdaFunction",
        "BeforeTrafficLambdaFunction",  # the canary's hook (test_the_canary_on_prod_and_not_on_dev)
    }


@pytest.mark.parametrize("name", ["fanout", "jobs", "deliver"])
def test_stream_and_queue_functions(package, name):
    properties = package.function_of(name)["Properties"]
    assert properties["Handler"] == f"handlers/{name}_handler.handler"
    assert properties["Runtime"] == "python3.13"
    assert properties["Architectures"] == ["x86_64"]
    assert properties["MemorySize"] == 512
    # No API Gateway in front: a batch may take longer than a request. A push batch: ten 10 s sends at once.
    assert properties["Timeout"] == (30 if name == "deliver" else 60)
    assert properties["Role"] == {"Fn::GetAtt": ["IamRoleLambdaExecution", "Arn"]}  # one role for all four
    assert properties["Environment"] == package.function["Properties"]["Environment"]
    assert "ReservedConcurrentExecutions" not in properties
    assert "TracingConfig" not in properties


def test_function_environment(package):
    log_level, *_ = EXPECTED[package.stage]
    variables = package.function["Properties"]["Environment"]["Variables"]
    assert variables == {
        "STAGE": package.stage,
        "DYNAMODB_TABLE_EVENTS": f"{SERVICE}-events-{package.stage}",
        "DYNAMODB_TABLE_KEYS": f"{SERVICE}-keys-{package.stage}",
        "DYNAMODB_TABLE_RATE_LIMITS": f"{SERVICE}-ratelimits-{package.stage}",
        "DYNAMODB_TABLE_SUBSCRIPTIONS": f"{SERVICE}-subscriptions-{package.stage}",
        "DYNAMODB_TABLE_DELIVERIES": f"{SERVICE}-deliveries-{package.stage}",
        "DYNAMODB_TABLE_JOBS": f"{SERVICE}-jobs-{package.stage}",
        "DYNAMODB_TABLE_AUDIT": f"{SERVICE}-audit-{package.stage}",
        "JOBS_QUEUE": f"{SERVICE}-jobs-{package.stage}",
        "PUSH_QUEUE": f"{SERVICE}-push-{package.stage}",
        "PUSH_ALLOW_PRIVATE_TARGETS": "false",  # true on the local stage only
        "DELIVERY_SHARDS": "4",
        "RATE_LIMIT_PER_MINUTE": "1000",
        "RATE_LIMIT_PER_TENANT_PER_MINUTE": "",  # empty: three times the key's (triggers/settings.py)
        "RATE_LIMIT_PER_ADDRESS_PER_MINUTE": "60",
        "AUTH_MODE": "aws",
        "LOG_LEVEL": log_level,
        "CORS_ORIGINS": EDGE[package.stage][0],  # `*` on dev only: staging and prod must name theirs
        # A name: the functions read the SecureString at start-up. The secret itself is nowhere in the template.
        "CURSOR_SECRET_PARAMETER": f"/{SERVICE}/{package.stage}/cursor-secret",
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
    logs = [s for s in statements if all(a.startswith("logs:") for a in s["Action"])]
    assert {a for s in logs for a in s["Action"]} == {
        "logs:CreateLogStream",
        "logs:CreateLogGroup",
        "logs:TagResource",
        "logs:PutLogEvents",
    }
    assert [{"Action": s["Action"], "Resource": s["Resource"]} for s in statements if s not in logs] == [
        # provider.iam: what the code does (triggers/storage/*.py), each on its table, index or queue.
        {
            "Action": dynamodb_actions("GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem"),
            "Resource": [arn("EventsTable")],
        },
        {
            "Action": ["dynamodb:Query"],
            "Resource": [
                index_arn("EventsTable", index)
                for index in ("inbox", "list_tenant", "list_source", "list_type", "list_source_type")
            ],
        },
        {"Action": dynamodb_actions("GetItem", "UpdateItem"), "Resource": [arn("ApiKeysTable")]},
        {"Action": ["dynamodb:UpdateItem"], "Resource": [arn("RateLimitsTable")]},
        {
            "Action": dynamodb_actions("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"),
            "Resource": [arn("SubscriptionsTable")],
        },
        {"Action": dynamodb_actions("GetItem", "PutItem", "UpdateItem"), "Resource": [arn("JobsTable")]},
        {"Action": dynamodb_actions("PutItem", "Query"), "Resource": [arn("AuditTable")]},  # append-only
        {
            "Action": dynamodb_actions("PutItem", "UpdateItem", "Query", "BatchWriteItem"),
            "Resource": [arn("DeliveriesTable")],
        },
        {
            "Action": ["dynamodb:Query"],
            "Resource": [index_arn("DeliveriesTable", "visible"), index_arn("DeliveriesTable", "dead")],
        },
        {"Action": ["sqs:GetQueueUrl", "sqs:SendMessage"], "Resource": [arn("JobsQueue"), arn("PushQueue")]},
        # The stage's cursor secret only; no kms:Decrypt (the AWS managed key aws/ssm decrypts through SSM).
        {"Action": ["ssm:GetParameter"], "Resource": [parameter_arn(f"/{SERVICE}/{package.stage}/cursor-secret")]},
        # Added by osls for the event source mappings (Lambda's poller acts as the role).
        {
            "Action": dynamodb_actions("GetRecords", "GetShardIterator", "DescribeStream", "ListStreams"),
            "Resource": [{"Fn::GetAtt": ["EventsTable", "StreamArn"]}],
        },
        {"Action": ["sqs:ListQueues", "sqs:SendMessage"], "Resource": [arn("FanoutFailuresQueue")]},
        {
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": [arn("JobsQueue"), arn("PushQueue")],
        },
    ]
    # osls's default: one role, whatever the number of functions (per-function roles need a plugin or a role
    # written by hand): each function may do what any of the four does.
    roles = package.resources("AWS::IAM::Role")
    # No custom resource role (roleManagedExternally); the canary's two roles where it is on (test_the_canary_roles).
    canary_roles = {"CodeDeployServiceRole", "BeforeTrafficHookRole"} if package.stage == "prod" else set()
    assert set(roles) == {"IamRoleLambdaExecution", *canary_roles}
    for name in ("api", "fanout", "jobs", "deliver"):
        assert package.function_of(name)["Properties"]["Role"] == {"Fn::GetAtt": ["IamRoleLambdaExecution", "Arn"]}
    assert "ManagedPolicyArns" not in role["Properties"]


def arn(logical_id: str) -> dict:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def index_arn(table: str, index: str) -> dict:
    return {"Fn::Join": ["", [arn(table), f"/index/{index}"]]}


def dynamodb_actions(*operations: str) -> list[str]:
    return [f"dynamodb:{operation}" for operation in operations]


def parameter_arn(name: str) -> dict:
    parts = ["arn:", {"Ref": "AWS::Partition"}, ":ssm:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}]
    return {"Fn::Join": ["", [*parts, f":parameter{name}"]]}


def test_log_groups_expire(package):
    _, retention, *_ = EXPECTED[package.stage]
    groups = package.resources("AWS::Logs::LogGroup")
    assert groups["ApiLogGroup"]["Properties"] == {
        "LogGroupName": f"/aws/lambda/{SERVICE}-{package.stage}-api",
        "RetentionInDays": retention,
    }
    for name in ("fanout", "jobs", "deliver"):
        assert groups[f"{name.capitalize()}LogGroup"]["Properties"] == {
            "LogGroupName": f"/aws/lambda/{SERVICE}-{package.stage}-{name}",
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
    assert logs == {
        "accessLogging": True,
        "executionLogging": False,
        "fullExecutionData": False,
        "roleManagedExternally": True,  # the account's CloudWatch role: docs/deploy.md, "Once per account"
    }
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
    assert bucket["PublicAccessBlockConfiguration"] == ALL_PUBLIC_ACCESS_BLOCKED
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


def test_packaging_needs_no_secret(serverless_environment):
    """The cursor secret is read by the functions from SSM: no command needs it, none can leak it."""
    config = print_config(serverless_environment, "--stage", "dev")
    assert "CURSOR_SECRET" not in config["provider"]["environment"]
    assert config["provider"]["environment"]["CURSOR_SECRET_PARAMETER"] == f"/{SERVICE}/dev/cursor-secret"
    assert "cursorSecret" not in config["params"]["default"]


def test_the_local_stage_names_no_parameter(serverless_environment):
    """scripts/local_stage.py gives CURSOR_SECRET directly; an empty name means "not set" to triggers/settings.py."""
    config = print_config(serverless_environment, "--stage", "local")
    assert config["provider"]["environment"]["CURSOR_SECRET_PARAMETER"] == ""


def refused_package(env: dict, *args: str) -> str:
    """`serverless package` with these arguments must stop before it writes anything: its output."""
    result = subprocess.run(
        [*SERVERLESS, "package", *args, "--package", "/nonexistent/never-written"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode != 0
    return result.stdout + result.stderr


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_staging_and_prod_need_their_cors_origins(serverless_environment, stage):
    env = {k: v for k, v in serverless_environment.items() if k != "TRIGGERS_CORS_ORIGINS"}
    assert f"corsOrigins is required on stage {stage}" in refused_package(env, "--stage", stage)
    config = print_config(serverless_environment, "--stage", stage, "--param=corsOrigins=https://ops.example.com")
    assert config["provider"]["environment"]["CORS_ORIGINS"] == "https://ops.example.com"  # --param works too
    # Both have the canary (prod's is packaged: test_the_canary_on_prod_and_not_on_dev); staging's is shorter.
    assert config["custom"]["deploymentSettings"]["stages"] == [stage]
    shifting = {"staging": "Canary10Percent5Minutes", "prod": "Canary10Percent10Minutes"}[stage]
    assert config["functions"]["api"]["deploymentSettings"]["type"] == shifting
    assert config["functions"]["api"]["snapStart"] is True  # the canary's published version


def test_the_canary_needs_snapstart(serverless_environment):
    """osls publishes a version only with SnapStart (versionFunctions: false): without one there is nothing to shift
    traffic to, so the package stops before building anything."""
    output = refused_package(serverless_environment, "--stage", "prod", "--param=snapStart=false")
    assert "canary needs snapStart on stage prod" in output


# The edge: CORS on API Gateway's own answers, compression, binary types, WAF ----------------------------------


def test_no_framework_made_role_for_api_gateway_logging(package):
    """osls's Custom::ApiGatewayAccountRole would bring a function whose role may create and pass any role."""
    resources = package.update_template["Resources"]
    assert not [k for k, v in resources.items() if v["Type"].startswith("Custom::")]
    text = json.dumps(package.update_template)
    assert "role/*" not in text and "iam:CreateRole" not in text and "iam:PassRole" not in text
    assert not (package.directory / "custom-resources.zip").exists()


def test_gateway_responses_carry_the_stages_cors_origin(package):
    origins, _, _ = EDGE[package.stage]
    responses = package.resources("AWS::ApiGateway::GatewayResponse")
    assert {r["Properties"]["ResponseType"] for r in responses.values()} == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for response in responses.values():
        properties = response["Properties"]
        assert properties["RestApiId"] == {"Ref": "ApiGatewayRestApi"}
        origin = properties["ResponseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"]
        # A gateway response holds one static value: the first origin, quoted (a literal for API Gateway).
        assert origin == {"Fn::Join": ["", ["'", {"Fn::Select": [0, {"Fn::Split": [",", origins]}]}, "'"]]}
        assert properties["ResponseParameters"]["gatewayresponse.header.Vary"] == "'Origin'"
    # The deployment waits for the methods, the methods for the responses: the first deployment has them.
    for method in package.resources("AWS::ApiGateway::Method").values():
        assert {"GatewayResponseDefault4XX", "GatewayResponseDefault5XX"} <= set(method["DependsOn"])


def test_compression_and_binary_media_types(package):
    (api,) = package.resources("AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["MinimumCompressionSize"] == 1024
    # The docs UI's PNG favicons (triggers/http/wsgi.py base64-encodes image/png): a browser's first Accept type
    # for an icon is image/avif or image/webp, so only a wildcard makes API Gateway decode them.
    assert api["Properties"]["BinaryMediaTypes"] == ["image/*"]
    from triggers.http.wsgi import BINARY_TYPES

    assert all(media_type.startswith("image/") for media_type in BINARY_TYPES)


def test_waf_rate_rule_per_client_ip(package):
    _, _, limit = EDGE[package.stage]
    template = package.update_template
    assert template["Parameters"]["WafRateLimit"] == {
        "Type": "Number",
        "Default": limit,
        "Description": "Requests per client IP per 5 minutes before AWS WAF blocks it (0 for no web ACL)",
    }
    assert template["Conditions"]["HasWaf"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "WafRateLimit"}, "0"]}]}
    acl = template["Resources"]["WebAcl"]
    assert acl["Condition"] == "HasWaf" and acl["Properties"]["Scope"] == "REGIONAL"
    assert acl["Properties"]["DefaultAction"] == {"Allow": {}}
    (rule,) = acl["Properties"]["Rules"]
    assert rule["Statement"] == {
        "RateBasedStatement": {"AggregateKeyType": "IP", "EvaluationWindowSec": 300, "Limit": {"Ref": "WafRateLimit"}}
    }
    assert rule["Action"] == {"Block": {"CustomResponse": {"ResponseCode": 429}}}
    association = template["Resources"]["WebAclAssociation"]
    assert association["Condition"] == "HasWaf"
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}
    stage_arn = association["Properties"]["ResourceArn"]["Fn::Join"][1]
    assert {"Ref": "ApiGatewayRestApi"} in stage_arn and stage_arn[-1] == f"/stages/{package.stage}"


# Operations: alarms, their topic, the dashboard, tracing ------------------------------------------------------


def alarms_by_name(package) -> dict:
    return {a["Properties"]["AlarmName"]: a["Properties"] for a in package.resources("AWS::CloudWatch::Alarm").values()}


def test_every_alarm_notifies_the_topic(package):
    alarms = alarms_by_name(package)
    assert alarms
    for name, alarm in alarms.items():
        assert name.startswith(f"{SERVICE}-{package.stage}-"), name
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["TreatMissingData"] == "notBreaching", name  # an idle stage is a healthy one
        assert alarm["AlarmDescription"], name
    topic = package.update_template["Resources"]["AlarmTopic"]
    assert topic["Type"] == "AWS::SNS::Topic"
    assert topic["Properties"]["TopicName"] == f"{SERVICE}-alarms-{package.stage}"
    subscription = package.update_template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    assert package.update_template["Parameters"]["AlarmEmail"]["Default"] == ""  # no address unless a stage sets one
    assert package.update_template["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}


def simple_alarm(alarm: dict) -> tuple:
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    statistic = alarm.get("Statistic") or alarm["ExtendedStatistic"]
    return (
        alarm["Namespace"],
        alarm["MetricName"],
        dimensions,
        statistic,
        alarm["Period"],
        alarm["EvaluationPeriods"],
        alarm["ComparisonOperator"],
        alarm["Threshold"],
    )


def test_api_alarms(package):
    alarms = alarms_by_name(package)
    prefix, api = f"{SERVICE}-{package.stage}", {"ApiName": f"{SERVICE}-{package.stage}", "Stage": package.stage}
    assert simple_alarm(alarms[f"{prefix}-api-5xx-rate"]) == (
        "AWS/ApiGateway",
        "5XXError",
        api,
        "Average",
        300,
        1,
        "GreaterThanThreshold",
        0.05,
    )
    assert simple_alarm(alarms[f"{prefix}-api-latency-p99"]) == (
        "AWS/ApiGateway",
        "Latency",
        api,
        "p99",
        300,
        3,
        "GreaterThanThreshold",
        3000,
    )


@pytest.mark.parametrize("name", ["api", "fanout", "jobs", "deliver"])
def test_function_alarms(package, name):
    alarms = alarms_by_name(package)
    prefix, function = f"{SERVICE}-{package.stage}", {"FunctionName": f"{SERVICE}-{package.stage}-{name}"}
    assert simple_alarm(alarms[f"{prefix}-{name}-errors"]) == (
        "AWS/Lambda",
        "Errors",
        function,
        "Sum",
        300,
        1,
        "GreaterThanOrEqualToThreshold",
        5,
    )
    assert simple_alarm(alarms[f"{prefix}-{name}-throttles"]) == (
        "AWS/Lambda",
        "Throttles",
        function,
        "Sum",
        300,
        1,
        "GreaterThanOrEqualToThreshold",
        1,
    )


def test_every_table_has_a_throttling_alarm(package):
    alarms = [
        a["Properties"] for a in package.resources("AWS::CloudWatch::Alarm").values() if "Metrics" in a["Properties"]
    ]
    watched = {}
    for alarm in alarms:
        stats = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
        assert {s["Metric"]["MetricName"] for s in stats.values()} == {"ReadThrottleEvents", "WriteThrottleEvents"}
        (table,) = {s["Metric"]["Dimensions"][0]["Value"]["Ref"] for s in stats.values()}
        (expression,) = [m for m in alarm["Metrics"] if "Expression" in m]
        assert expression["Expression"] == "FILL(reads, 0) + FILL(writes, 0)" and expression["ReturnData"] is True
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (10, "GreaterThanOrEqualToThreshold")
        watched[table] = alarm
    assert set(watched) == set(package.resources("AWS::DynamoDB::Table"))  # a new table needs its alarm


def test_dead_letter_queues_iterator_age_and_push_wait(package):
    alarms = alarms_by_name(package)
    prefix = f"{SERVICE}-{package.stage}"
    dead_letters = {
        name
        for name, queue in package.resources("AWS::SQS::Queue").items()
        if "RedrivePolicy" not in queue["Properties"]
    }
    assert dead_letters == {"JobsDeadLetterQueue", "PushDeadLetterQueue", "FanoutFailuresQueue"}
    for logical_id, kind in (
        ("JobsDeadLetterQueue", "jobs-dlq"),
        ("PushDeadLetterQueue", "push-dlq"),
        ("FanoutFailuresQueue", "fanout-failures"),
    ):
        assert simple_alarm(alarms[f"{prefix}-{kind}-depth"]) == (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": {"Fn::GetAtt": [logical_id, "QueueName"]}},
            "Maximum",
            60,
            1,
            "GreaterThanOrEqualToThreshold",
            1,
        )
    assert simple_alarm(alarms[f"{prefix}-fanout-iterator-age"]) == (
        "AWS/Lambda",
        "IteratorAge",
        {"FunctionName": f"{prefix}-fanout"},
        "Maximum",
        300,
        2,
        "GreaterThanThreshold",
        300000,
    )
    assert simple_alarm(alarms[f"{prefix}-push-oldest-message"]) == (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        {"QueueName": {"Fn::GetAtt": ["PushQueue", "QueueName"]}},
        "Maximum",
        300,
        2,
        "GreaterThanThreshold",
        1800,
    )


def test_the_dashboard_shows_what_the_alarms_watch(package):
    (dashboard,) = package.resources("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == f"{SERVICE}-{package.stage}"
    body = json.loads(dashboard["Properties"]["DashboardBody"])
    region = package.state["service"]["provider"]["region"]
    shown = set()
    for widget in body["widgets"]:
        assert widget["properties"]["region"] == region
        previous: list = []
        for metric in widget["properties"]["metrics"]:
            names = [part for part in metric if isinstance(part, str)]
            if names[0] == "...":
                names = previous
            elif names[0] == ".":
                names = [previous[0], *names[1:]]
            previous = names
            shown.add((names[0], names[1], *names[3::2]))  # namespace, metric, dimension values
    prefix = f"{SERVICE}-{package.stage}"
    for alarm in alarms_by_name(package).values():
        if "Metrics" in alarm:
            stat = alarm["Metrics"][0]["MetricStat"]["Metric"]
            table = package.update_template["Resources"][stat["Dimensions"][0]["Value"]["Ref"]]["Properties"][
                "TableName"
            ]
            assert ("AWS/DynamoDB", "ReadThrottleEvents", table) in shown
            assert ("AWS/DynamoDB", "WriteThrottleEvents", table) in shown
            continue
        values = []
        for dimension in alarm["Dimensions"]:
            value = dimension["Value"]
            if isinstance(value, dict):  # a queue's name
                logical_id = value["Fn::GetAtt"][0]
                value = package.update_template["Resources"][logical_id]["Properties"]["QueueName"]
            values.append(value)
        assert (alarm["Namespace"], alarm["MetricName"], *values) in shown, alarm["AlarmName"]
    assert ("AWS/ApiGateway", "Count", prefix, package.stage) in shown


def test_tracing_is_a_stage_option_off_by_default(package):
    assert package.state["service"]["provider"]["tracing"] == {"apiGateway": False, "lambda": False}
    text = json.dumps(package.update_template)
    assert "xray:" not in text and "TracingConfig" not in text


def test_snapstart_is_a_stage_option_on_in_prod(package):
    """`snapStart` (staging and prod: on) snapshots the api function's published versions. osls then publishes one
    per deploy, replacing the last (no Retain), behind an alias which API Gateway invokes: the unqualified function
    would never start from a snapshot. With the canary (prod) that alias is the canary's `Live`, the only one:
    osls's `snapstart` is gone and the permission and the integrations name `Live` (scripts/canary_glue.cjs). Off,
    none of it; the workers never have it."""
    api = package.function["Properties"]
    versions = package.resources("AWS::Lambda::Version")
    aliases = package.resources("AWS::Lambda::Alias")
    (permission,) = package.resources("AWS::Lambda::Permission").values()
    uris = [m["Properties"]["Integration"]["Uri"] for m in package.resources("AWS::ApiGateway::Method").values()]
    arn = {"Fn::GetAtt": ["ApiLambdaFunction", "Arn"]}
    if package.stage == "prod":
        assert api["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        ((version_id, version),) = versions.items()
        assert version["Properties"]["FunctionName"] == {"Ref": "ApiLambdaFunction"}
        assert "DeletionPolicy" not in version
        ((alias_id, alias),) = aliases.items()
        assert alias_id == "ApiLambdaFunctionAliasLive"
        assert alias["Properties"] == {
            "FunctionName": {"Ref": "ApiLambdaFunction"},
            "FunctionVersion": {"Fn::GetAtt": [version_id, "Version"]},
            "Name": "Live",
        }
        assert permission["Properties"]["FunctionName"] == {"Ref": alias_id}
        assert all(uri["Fn::Join"][1][-2:] == [{"Ref": alias_id}, "/invocations"] for uri in uris)
        text = json.dumps(package.update_template)
        assert "ApiSnapStartLambdaAlias" not in text and '"snapstart"' not in text
    else:
        assert "SnapStart" not in api
        assert not versions and not aliases
        assert permission["Properties"]["FunctionName"] == arn
        assert all(uri["Fn::Join"][1][-2:] == [arn, "/invocations"] for uri in uris)
    for name in ("fanout", "jobs", "deliver"):
        assert "SnapStart" not in package.function_of(name)["Properties"]


# The canary (prod; staging in test_staging_and_prod_need_their_cors_origins; none on dev) ------------------------


def test_the_canary_on_prod_and_not_on_dev(package):
    """The api function's new versions go through CodeDeploy on prod: the hook first, 10 % for 10 minutes, rolled back
    by the API's 5xx alarm or the function's errors alarm. Dev deploys at once: no CodeDeploy resource at all."""
    resources = package.update_template["Resources"]
    applications = package.resources("AWS::CodeDeploy::Application")
    groups = package.resources("AWS::CodeDeploy::DeploymentGroup")
    hook = package.function_of("beforeTraffic")
    assert hook["Properties"]["Handler"] == "handlers/before_traffic_handler.handler"
    assert hook["Properties"]["FunctionName"] == f"{SERVICE}-{package.stage}-beforeTraffic"
    assert hook["Properties"]["Timeout"] == 150  # two invocations of the new version, 60 s each at most
    if package.stage != "prod":
        assert not applications and not groups
        assert not [r for r in resources.values() if "UpdatePolicy" in r]
        assert package.state["service"]["custom"]["deploymentSettings"]["stages"] == ["(no canary)"]
        assert hook["Properties"]["Role"] == {"Fn::GetAtt": ["IamRoleLambdaExecution", "Arn"]}  # idle there
        return
    ((application_id, application),) = applications.items()
    assert application["Properties"] == {"ComputePlatform": "Lambda", "ApplicationName": {"Ref": "AWS::StackName"}}
    ((group_id, group),) = groups.items()
    assert group_id == "ApiLambdaFunctionDeploymentGroup"
    assert group["Properties"] == {
        "ApplicationName": {"Ref": application_id},
        "DeploymentGroupName": f"{SERVICE}-{package.stage}-ApiLambdaFunctionDeploymentGroup",
        "DeploymentConfigName": {
            "Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": "Canary10Percent10Minutes"}]
        },
        "DeploymentStyle": {"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"},
        "AutoRollbackConfiguration": {
            "Enabled": True,
            "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"],
        },
        "AlarmConfiguration": {
            "Enabled": True,
            "Alarms": [{"Name": {"Ref": "Api5xxRateAlarm"}}, {"Name": {"Ref": "ApiErrorsAlarm"}}],
        },
        "ServiceRoleArn": {"Fn::GetAtt": ["CodeDeployServiceRole", "Arn"]},
    }
    alias = resources["ApiLambdaFunctionAliasLive"]
    assert alias["UpdatePolicy"] == {
        "CodeDeployLambdaAliasUpdate": {
            "ApplicationName": {"Ref": application_id},
            "DeploymentGroupName": {"Ref": group_id},
            "BeforeAllowTrafficHook": {"Ref": "BeforeTrafficLambdaFunction"},
        }
    }
    # The hook's new code and role before CodeDeploy calls it: the update policy's Ref orders them (no DependsOn).
    assert "DependsOn" not in alias


def test_the_canarys_alarms_watch_the_api(package):
    """The two alarms that roll a canary back are the API stage's 5xx share and the api function's errors."""
    resources = package.update_template["Resources"]
    api = {"ApiName": f"{SERVICE}-{package.stage}", "Stage": package.stage}
    assert simple_alarm(resources["Api5xxRateAlarm"]["Properties"])[:3] == ("AWS/ApiGateway", "5XXError", api)
    errors = simple_alarm(resources["ApiErrorsAlarm"]["Properties"])
    assert errors[:3] == ("AWS/Lambda", "Errors", {"FunctionName": f"{SERVICE}-{package.stage}-api"})


def sub(text: str) -> dict:
    return {"Fn::Sub": text}


def lambda_arn(name: str) -> str:
    return f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{name}"


def test_the_canary_roles(package):
    """CodeDeploy's role and the hook's hold exactly what each does, on this stage's resources (no managed policy:
    the plugin's default role would hold AWSLambda_FullAccess); the functions' role gets nothing from the canary."""
    if package.stage != "prod":
        return
    resources = package.update_template["Resources"]
    prefix = f"{SERVICE}-{package.stage}"
    codedeploy = resources["CodeDeployServiceRole"]["Properties"]
    assert "ManagedPolicyArns" not in codedeploy
    assert codedeploy["RoleName"] == sub("${AWS::StackName}-${AWS::Region}-codeDeployRole")
    assert codedeploy["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": ["sts:AssumeRole"], "Effect": "Allow", "Principal": {"Service": ["codedeploy.amazonaws.com"]}}
    ]
    ((policy,),) = [codedeploy["Policies"]]
    alarm = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:"
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["cloudwatch:DescribeAlarms"],
            "Resource": [sub(alarm + "${Api5xxRateAlarm}"), sub(alarm + "${ApiErrorsAlarm}")],
        },
        {
            "Effect": "Allow",
            "Action": ["lambda:GetAlias", "lambda:UpdateAlias", "lambda:GetProvisionedConcurrencyConfig"],
            "Resource": [sub(lambda_arn(f"{prefix}-api")), sub(lambda_arn(f"{prefix}-api") + ":*")],
        },
        {
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [sub(lambda_arn(f"{prefix}-beforeTraffic")), sub(lambda_arn(f"{prefix}-beforeTraffic") + ":*")],
        },
    ]
    hook_role = resources["BeforeTrafficHookRole"]["Properties"]
    assert hook_role["RoleName"] == sub("${AWS::StackName}-${AWS::Region}-beforeTrafficRole")
    assert hook_role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}
    ]
    ((policy,),) = [hook_role["Policies"]]
    codedeploy_arn = "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}"
    application = "TriggersapiprodDeploymentApplication"
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [
                sub(
                    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
                    f"/aws/lambda/{prefix}-beforeTraffic:*"
                )
            ],
        },
        {
            "Effect": "Allow",
            "Action": ["codedeploy:GetDeployment", "codedeploy:PutLifecycleEventHookExecutionStatus"],
            "Resource": [
                sub(f"{codedeploy_arn}:deploymentgroup:${{{application}}}/${{ApiLambdaFunctionDeploymentGroup}}")
            ],
        },
        {
            "Effect": "Allow",
            "Action": ["codedeploy:GetApplicationRevision"],
            "Resource": [sub(f"{codedeploy_arn}:application:${{{application}}}")],
        },
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": [sub(lambda_arn(f"{prefix}-api") + ":*")]},
    ]
    assert package.function_of("beforeTraffic")["Properties"]["Role"] == {
        "Fn::GetAtt": ["BeforeTrafficHookRole", "Arn"]
    }
    shared = json.dumps(resources["IamRoleLambdaExecution"])
    assert "codedeploy" not in shared and "lambda:InvokeFunction" not in shared


# The deploy role (docs/iam/): what a deploy of these templates needs, for each kind of resource in them.
DEPLOY_ACTIONS = {
    "AWS::S3::Bucket": ["s3:CreateBucket", "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock"],
    "AWS::S3::BucketPolicy": ["s3:PutBucketPolicy"],
    "AWS::IAM::Role": ["iam:CreateRole", "iam:PutRolePolicy", "iam:PassRole"],
    "AWS::Logs::LogGroup": ["logs:CreateLogGroup", "logs:PutRetentionPolicy"],
    "AWS::Lambda::Function": [
        "lambda:CreateFunction",
        "lambda:UpdateFunctionCode",
        "lambda:UpdateFunctionConfiguration",
    ],
    "AWS::Lambda::Version": ["lambda:PublishVersion"],
    "AWS::Lambda::Alias": ["lambda:CreateAlias", "lambda:UpdateAlias"],
    "AWS::Lambda::Permission": ["lambda:AddPermission", "lambda:RemovePermission"],
    "AWS::Lambda::EventSourceMapping": ["lambda:CreateEventSourceMapping", "lambda:UpdateEventSourceMapping"],
    "AWS::ApiGateway::RestApi": ["apigateway:POST", "apigateway:PATCH"],
    "AWS::ApiGateway::Resource": ["apigateway:POST"],
    "AWS::ApiGateway::Method": ["apigateway:PUT"],
    "AWS::ApiGateway::Deployment": ["apigateway:POST"],
    "AWS::ApiGateway::GatewayResponse": ["apigateway:PUT"],
    "AWS::DynamoDB::Table": ["dynamodb:CreateTable", "dynamodb:UpdateTable", "dynamodb:UpdateTimeToLive"],
    "AWS::SQS::Queue": ["sqs:CreateQueue", "sqs:SetQueueAttributes"],
    "AWS::SNS::Topic": ["sns:CreateTopic"],
    "AWS::SNS::Subscription": ["sns:Subscribe"],
    "AWS::CloudWatch::Alarm": ["cloudwatch:PutMetricAlarm"],
    "AWS::CloudWatch::Dashboard": ["cloudwatch:PutDashboard"],
    "AWS::WAFv2::WebACL": ["wafv2:CreateWebACL", "wafv2:UpdateWebACL"],
    "AWS::WAFv2::WebACLAssociation": ["wafv2:AssociateWebACL", "apigateway:SetWebACL"],
    "AWS::CodeDeploy::Application": ["codedeploy:CreateApplication"],
    "AWS::CodeDeploy::DeploymentGroup": ["codedeploy:CreateDeploymentGroup", "codedeploy:CreateDeployment"],
    "AWS::CloudFront::Distribution": ["cloudfront:CreateDistribution", "cloudfront:UpdateDistribution"],
    "AWS::CloudFront::OriginAccessControl": ["cloudfront:CreateOriginAccessControl"],
}


def deploy_policy() -> dict:
    return json.loads((REPO / "docs" / "iam" / "deploy-policy.json").read_text())


def test_the_deploy_role_covers_every_kind_of_resource(package):
    """A resource type added to the stack needs its actions in docs/iam/deploy-policy.json (and here)."""
    allowed = {
        a
        for s in deploy_policy()["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    types = {resource["Type"] for resource in package.update_template["Resources"].values()}
    types |= {resource["Type"] for resource in package.create_template["Resources"].values()}
    assert types <= set(DEPLOY_ACTIONS), f"add the deploy role's actions for {sorted(types - set(DEPLOY_ACTIONS))}"
    for resource_type in types:
        missing = set(DEPLOY_ACTIONS[resource_type]) - allowed
        assert not missing, (resource_type, missing)


def test_the_deploy_role_passes_only_the_stacks_roles():
    """No administrator: no `*` action, iam:PassRole on the functions' roles (to Lambda) and CodeDeploy's (to
    CodeDeploy) only, and `*` resources only where AWS has no resource for the action."""
    statements = deploy_policy()["Statement"]
    for statement in statements:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        assert all(action != "*" and not action.endswith(":*") for action in actions), statement["Sid"]
        assert statement["Effect"] == "Allow"
        if statement["Resource"] == "*":
            assert actions == ["cloudformation:ValidateTemplate"] or "Condition" in statement, statement["Sid"]
    passes = {s["Sid"]: s for s in statements if "iam:PassRole" in s["Action"]}
    role = "arn:aws:iam::${ACCOUNT_ID}:role/triggers-api-${STAGE}-${REGION}-"
    assert passes["PassTheFunctionsRolesToLambdaOnly"]["Resource"] == [f"{role}lambdaRole", f"{role}beforeTrafficRole"]
    assert passes["PassTheFunctionsRolesToLambdaOnly"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}
    }
    assert passes["PassTheCanarysRoleToCodeDeployOnly"]["Resource"] == f"{role}codeDeployRole"
    assert set(passes) == {"PassTheFunctionsRolesToLambdaOnly", "PassTheCanarysRoleToCodeDeployOnly"}
    trust = json.loads((REPO / "docs" / "iam" / "github-oidc-trust.json").read_text())
    (statement,) = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:${GITHUB_REPOSITORY}:environment:${GITHUB_ENVIRONMENT}",
    }


def test_the_stacks_roles_have_the_names_the_deploy_role_passes(package):
    """The names docs/iam/deploy-policy.json lets the deploy role pass: `<stack>-<region>-<role>`."""
    resources = package.update_template["Resources"]
    names = {
        logical_id: role["Properties"]["RoleName"] for logical_id, role in package.resources("AWS::IAM::Role").items()
    }
    assert names.pop("IamRoleLambdaExecution") == {  # osls's: triggers-api-<stage>-<region>-lambdaRole
        "Fn::Join": ["-", [SERVICE, package.stage, {"Ref": "AWS::Region"}, "lambdaRole"]]
    }
    expected = {"CodeDeployServiceRole": "codeDeployRole", "BeforeTrafficHookRole": "beforeTrafficRole"}
    assert names == {k: sub(f"${{AWS::StackName}}-${{AWS::Region}}-{v}") for k, v in expected.items() if k in resources}


@pytest.fixture(scope="module")
def options_package(packages):
    """A personal stage with every option that is off by default turned on."""
    return packages("alice", *OPTIONS)


def test_the_options_turned_on(options_package):
    template = options_package.update_template
    for name in ("api", "fanout", "jobs", "deliver"):
        assert options_package.function_of(name)["Properties"]["TracingConfig"] == {"Mode": "Active"}
    assert options_package.state["service"]["provider"]["tracing"] == {"apiGateway": True, "lambda": True}
    role = template["Resources"]["IamRoleLambdaExecution"]
    statements = [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    # X-Ray has no resource-level permissions: its two write actions are the role's only "*".
    star = [s for s in statements if "*" in list(strings_in(s["Resource"]))]
    assert star == [
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": ["*"]}
    ]
    assert str(template["Parameters"]["WafRateLimit"]["Default"]) == "500"  # --param values are strings
    assert template["Parameters"]["AlarmEmail"]["Default"] == "ops@example.com"
    assert template["Parameters"]["ConsoleDomain"]["Default"] == "console.example.com"
    assert template["Parameters"]["ConsoleCertificateArn"]["Default"] == CONSOLE_CERTIFICATE
    assert template["Resources"]["ApiLambdaFunction"]["Properties"]["Environment"]["Variables"]["CORS_ORIGINS"] == "*"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from cfnlint.runner import main; sys.exit(main())",
            str(options_package.directory / "cloudformation-template-update-stack.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


# The web console: a private bucket behind CloudFront ---------------------------------------------------------


def test_the_console_bucket_is_private_and_encrypted(package):
    bucket = package.update_template["Resources"]["ConsoleBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == ALL_PUBLIC_ACCESS_BLOCKED
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert "WebsiteConfiguration" not in bucket and "AccessControl" not in bucket  # no S3 website, no public ACL


def test_only_the_consoles_distribution_reads_its_bucket_and_only_over_https(package):
    policy = package.resources("AWS::S3::BucketPolicy")["ConsoleBucketPolicy"]
    assert policy["Properties"]["Bucket"] == {"Ref": "ConsoleBucket"}
    read, https_only = policy["Properties"]["PolicyDocument"]["Statement"]
    assert read["Effect"] == "Allow" and read["Action"] == "s3:GetObject"
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"}  # origin access control's principal
    assert read["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": ["ConsoleBucket", "Arn"]}, "/*"]]}
    source = read["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Join"][1]
    assert source[-2:] == [":distribution/", {"Ref": "ConsoleDistribution"}]  # this distribution, no other
    assert {"Ref": "AWS::AccountId"} in source
    assert https_only["Effect"] == "Deny" and https_only["Principal"] == "*" and https_only["Action"] == "s3:*"
    assert https_only["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {"Fn::GetAtt": ["ConsoleBucket", "Arn"]} in https_only["Resource"]


def test_cloudfront_reads_the_bucket_through_origin_access_control_and_serves_https(package):
    (control,) = package.resources("AWS::CloudFront::OriginAccessControl").values()
    config = control["Properties"]["OriginAccessControlConfig"]
    assert (config["OriginAccessControlOriginType"], config["SigningBehavior"], config["SigningProtocol"]) == (
        "s3",
        "always",
        "sigv4",
    )
    (distribution,) = package.resources("AWS::CloudFront::Distribution").values()
    settings = distribution["Properties"]["DistributionConfig"]
    (origin,) = settings["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": ["ConsoleBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["ConsoleOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy OAI
    behaviour = settings["DefaultCacheBehavior"]
    assert behaviour["TargetOriginId"] == origin["Id"]
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert behaviour["ResponseHeadersPolicyId"] == "67f7725c-6f97-4210-82d7-5512b31e9d03"  # Managed-SecurityHeaders
    assert settings["DefaultRootObject"] == "index.html"
    # A console domain brings its certificate and TLS 1.2 at least; without one, CloudFront's own name and certificate.
    assert settings["ViewerCertificate"]["Fn::If"][0] == "HasConsoleDomain"
    assert settings["ViewerCertificate"]["Fn::If"][1]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert settings["ViewerCertificate"]["Fn::If"][2] == {"CloudFrontDefaultCertificate": True}
    outputs = package.update_template["Outputs"]
    assert outputs["ConsoleBucketName"]["Value"] == {"Ref": "ConsoleBucket"}
    assert outputs["ConsoleDistributionId"]["Value"] == {"Ref": "ConsoleDistribution"}


def test_a_console_domain_must_be_among_the_stages_cors_origins(serverless_environment):
    """With `*` (dev) any origin is allowed; a stage that names its origins must name the console's."""
    hook = "before:package:initialize"
    domain = "--param=consoleDomain=console.example.com"
    refused = print_config(serverless_environment, "--stage", "prod", domain)["custom"]["scripts"]["hooks"][hook]
    result = subprocess.run(["sh", "-c", refused], capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 1
    assert "corsOrigins of stage prod must include the console: https://console.example.com" in result.stderr
    origins = f"--param=corsOrigins={CORS_ORIGINS},https://console.example.com"
    allowed = print_config(serverless_environment, "--stage", "prod", domain, origins)["custom"]["scripts"]["hooks"]
    assert subprocess.run(["sh", "-c", allowed[hook]], check=False, timeout=30).returncode == 0


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
