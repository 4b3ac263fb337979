"""A deploy rehearsal on moto's CloudFormation (server mode, 127.0.0.1), in the order `serverless deploy` works.

1. create the stack from the create template (the deployment bucket);
2. upload the zips where the update template expects them, and update the stack with it;
3. every resource of the template must reach *_COMPLETE;
4. run the after-deploy hook (stage throttling, data tracing off) against moto's API Gateway;
5. create the first API key with the operators' tool, then run the event lifecycle through the unpacked zip with
   the environment of the function moto created, against the tables the stack created, with AUTH_MODE=aws; then
   one subscription through the three functions (deploy_support.subscription_journey), each with the environment
   moto holds for it, against the stack's tables and jobs queue;
6. every DynamoDB and SQS call the handlers made must be allowed by the role the stack created.

What moto cannot do here, said plainly rather than papered over:
- it has no CloudFormation support for some types (MOTO_UNSUPPORTED_TYPES: the deployment and console buckets'
  policies, the CloudWatch alarms, the API's gateway responses, the console's CloudFront distribution and origin
  access control): it skips each, and lists it with an empty logical
  id; test_deploy_package checks them in the template (the SNS topic and the dashboard are created);
- the resources whose condition is false on dev (the WAF web ACL and its association, the alarm e-mail
  subscription) are not created, as on AWS; prod's web ACL is checked in the template only;
- the account's API Gateway CloudWatch role is an operator's one-time setting (docs/deploy.md), not part of the
  stack (`roleManagedExternally`), so there is nothing of it to rehearse;
- its AWS::DynamoDB::Table creates keys, indexes and billing mode but ignores TimeToLiveSpecification,
  SSESpecification and PointInTimeRecoverySpecification (test_deploy_package checks those in the template);
- it does not enforce the IAM policy on requests (its checks ignore DynamoDB resource ARNs), hence step 6;
- it creates both AWS::Lambda::EventSourceMapping resources with their settings (checked below) but cannot run the
  functions they feed (Docker again). What it does instead: on every write to the events table it tries to invoke
  the fan-out, fails, and drops the stream records, so the stack's stream has nothing to read; a message sent to the
  jobs queue is received for the jobs function, fails, and is made visible again (one receive of maxReceiveCount
  spent). The fan-out's on-failure destination is stored, never used. So the rehearsal plays Lambda's part: it
  hands the fan-out the records a NEW_IMAGE stream would hold, built from the table's items as they changed
  (deploy_support.TableChanges, which fails as soon as moto keeps the records), and the jobs function the jobs
  queue's real messages. test_deploy_zip feeds the fan-out moto's real stream records, on tables without a mapping.
"""

import ast
import json
import os
import re
import sys
import urllib.parse

import pytest
from deploy_support import (
    REGION,
    REPO,
    SERVICE,
    QueueFeed,
    TableChanges,
    assert_lifecycle,
    aws_client,
    base_environment,
    dynamodb_permissions,
    handler_environment,
    put_cursor_secret,
    run,
    subscription_journey,
    unpack,
)

# No CloudFormation support in moto (5.x): skipped, listed with an empty logical id; checked in the template instead.
MOTO_UNSUPPORTED_TYPES = {
    "AWS::S3::BucketPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::ApiGateway::GatewayResponse",
    "AWS::CloudFront::Distribution",
    "AWS::CloudFront::OriginAccessControl",
}
NOT_EXECUTED_BY_MOTO = {"AWS::Lambda::EventSourceMapping"}
FUNCTIONS = ("api", "fanout", "jobs", "deliver")
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
WAIT = {"Delay": 1, "MaxAttempts": 120}


@pytest.fixture(scope="module")
def stack(dev_package, moto_server):
    """The dev stack, created then updated on moto exactly from the packaged templates."""
    cloudformation = aws_client("cloudformation", moto_server)
    name = f"{SERVICE}-{dev_package.stage}"
    # Before the first deploy, once per stage (docs/deploy.md, "The cursor secret"): the functions read it at start.
    put_cursor_secret(moto_server, f"/{SERVICE}/{dev_package.stage}/cursor-secret")
    cloudformation.create_stack(
        StackName=name, TemplateBody=json.dumps(dev_package.create_template), Capabilities=CAPABILITIES
    )
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=WAIT)

    bucket = cloudformation.describe_stack_resource(StackName=name, LogicalResourceId="ServerlessDeploymentBucket")[
        "StackResourceDetail"
    ]["PhysicalResourceId"]
    s3 = aws_client("s3", moto_server)
    uploaded = set()
    for resource in dev_package.resources("AWS::Lambda::Function").values():
        code = resource["Properties"]["Code"]
        assert code["S3Bucket"] == {"Ref": "ServerlessDeploymentBucket"}
        artifact = dev_package.directory / code["S3Key"].rsplit("/", 1)[-1]
        s3.upload_file(str(artifact), bucket, code["S3Key"])
        uploaded.add(artifact.name)
    assert uploaded == {f"{SERVICE}.zip"}  # no custom-resources.zip: no framework-made account role

    cloudformation.update_stack(
        StackName=name, TemplateBody=json.dumps(dev_package.update_template), Capabilities=CAPABILITIES
    )
    cloudformation.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=WAIT)
    description = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {
        "name": name,
        "status": description["StackStatus"],
        "outputs": {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])},
        "resources": cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"],
    }


def test_every_resource_is_complete(stack, dev_package):
    assert stack["status"] == "UPDATE_COMPLETE"
    listed = {r["LogicalResourceId"]: r for r in stack["resources"] if r["LogicalResourceId"]}
    expected = dev_package.update_template["Resources"]
    skipped = {k for k, v in expected.items() if v["Type"] in MOTO_UNSUPPORTED_TYPES}
    # Off on dev (conditions on the template's parameters, whose defaults are dev's): never created.
    conditional = {k for k, v in expected.items() if "Condition" in v}
    assert {expected[k]["Type"] for k in conditional} == {
        "AWS::WAFv2::WebACL",
        "AWS::WAFv2::WebACLAssociation",
        "AWS::SNS::Subscription",
    }
    skipped |= conditional
    assert set(listed) == set(expected) - skipped
    for logical_id, resource in listed.items():
        assert resource["ResourceType"] == expected[logical_id]["Type"]
        assert resource["ResourceStatus"].endswith("_COMPLETE"), resource
    types = {v["Type"] for v in expected.values()}
    assert NOT_EXECUTED_BY_MOTO <= types  # still there: the rehearsal does not cover what it does (see above)


def test_outputs_name_the_api_and_the_tables(stack):
    outputs = stack["outputs"]
    assert re.fullmatch(r"https://\w+\.execute-api\.us-east-1\.amazonaws\.com/dev", outputs["ServiceEndpoint"])
    assert outputs["EventsTableName"] == f"{SERVICE}-events-dev"
    assert outputs["ApiKeysTableName"] == f"{SERVICE}-keys-dev"
    assert outputs["RateLimitsTableName"] == f"{SERVICE}-ratelimits-dev"


def test_tables_as_created(stack, moto_server):
    dynamodb = aws_client("dynamodb", moto_server)
    events = dynamodb.describe_table(TableName=stack["outputs"]["EventsTableName"])["Table"]
    assert events["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    indexes = {index["IndexName"]: index["KeySchema"] for index in events["GlobalSecondaryIndexes"]}
    assert indexes == {
        "inbox": [
            {"AttributeName": "inbox_tenant", "KeyType": "HASH"},
            {"AttributeName": "inbox_sort", "KeyType": "RANGE"},
        ],
        **{
            name: [{"AttributeName": name, "KeyType": "HASH"}, {"AttributeName": "list_sort", "KeyType": "RANGE"}]
            for name in ("list_tenant", "list_source", "list_type", "list_source_type")
        },
    }
    assert events["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    # Not compared: TTL, SSE and PITR, which moto's CloudFormation does not apply (see the module's docstring).
    keys = dynamodb.describe_table(TableName=stack["outputs"]["ApiKeysTableName"])["Table"]
    assert keys["KeySchema"] == [{"AttributeName": "key_hash", "KeyType": "HASH"}]


def test_after_deploy_hook_throttles_the_stage_and_turns_data_tracing_off(stack, dev_package, moto_server):
    env = {**base_environment(), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env["AWS_ENDPOINT_URL"] = moto_server  # the AWS SDK for JavaScript v3 sends every call there
    # As serverless-plugin-scripts runs it: /bin/sh, in the service's directory (scripts/stage_settings.cjs).
    result = run(["/bin/sh", "-c", dev_package.hook("after:deploy:deploy")], cwd=REPO, env=env)
    assert "stage dev of triggers-api-dev: throttling 10 rps, burst 20; data tracing off" in result.stdout
    apigateway = aws_client("apigateway", moto_server)
    rest_api_id = stack["outputs"]["ServiceEndpoint"].split("//")[1].split(".")[0]
    stage = apigateway.get_stage(restApiId=rest_api_id, stageName="dev")
    settings = stage["methodSettings"]["*/*"]
    assert settings["throttlingRateLimit"] == 10
    assert settings["throttlingBurstLimit"] == 20
    assert settings["dataTraceEnabled"] is False


@pytest.fixture(scope="module")
def configurations(stack, moto_server) -> dict[str, dict]:
    """Each function's configuration as moto's Lambda holds it."""
    functions = aws_client("lambda", moto_server)
    return {name: functions.get_function_configuration(FunctionName=f"{SERVICE}-dev-{name}") for name in FUNCTIONS}


@pytest.fixture(scope="module")
def function_configuration(configurations):
    return configurations["api"]


def test_function_as_created(function_configuration):
    assert function_configuration["Runtime"] == "python3.13"
    assert function_configuration["Handler"] == "handlers/lambda_handler.handler"
    assert function_configuration["MemorySize"] == 512
    assert function_configuration["Timeout"] == 25
    assert "AWS_REGION" not in function_configuration["Environment"]["Variables"]


@pytest.mark.parametrize("name", ["fanout", "jobs", "deliver"])
def test_stream_and_queue_functions_as_created(configurations, name):
    configuration = configurations[name]
    assert configuration["Runtime"] == "python3.13"
    assert configuration["Handler"] == f"handlers/{name}_handler.handler"
    assert configuration["Timeout"] == (30 if name == "deliver" else 60)
    assert configuration["Role"] == configurations["api"]["Role"]  # osls's one role
    assert configuration["Environment"] == configurations["api"]["Environment"]


def test_new_tables_as_created(stack, moto_server):
    dynamodb = aws_client("dynamodb", moto_server)
    events = dynamodb.describe_table(TableName=f"{SERVICE}-events-dev")["Table"]
    assert events["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert events["LatestStreamArn"].startswith(events["TableArn"] + "/stream/")
    pk_sk = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert dynamodb.describe_table(TableName=f"{SERVICE}-subscriptions-dev")["Table"]["KeySchema"] == pk_sk
    deliveries = dynamodb.describe_table(TableName=f"{SERVICE}-deliveries-dev")["Table"]
    assert deliveries["KeySchema"] == pk_sk
    assert {index["IndexName"]: index["KeySchema"] for index in deliveries["GlobalSecondaryIndexes"]} == {
        "visible": [
            {"AttributeName": "lane", "KeyType": "HASH"},
            {"AttributeName": "visible_at", "KeyType": "RANGE"},
        ],
        "dead": [{"AttributeName": "dead_sub", "KeyType": "HASH"}, {"AttributeName": "dead_sort", "KeyType": "RANGE"}],
    }
    jobs = dynamodb.describe_table(TableName=f"{SERVICE}-jobs-dev")["Table"]
    assert jobs["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]


@pytest.fixture(scope="module")
def queues(stack, moto_server) -> dict[str, dict]:
    """{kind: the queue's attributes as moto's SQS holds them} for jobs, push, their dead-letter queues and
    fanout-failures."""
    sqs = aws_client("sqs", moto_server)
    attributes = {}
    for kind in ("jobs", "jobs-dlq", "push", "push-dlq", "fanout-failures"):
        url = sqs.get_queue_url(QueueName=f"{SERVICE}-{kind}-dev")["QueueUrl"]
        attributes[kind] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return attributes


def test_queues_as_created(queues):
    for kind, visibility_timeout in (("jobs", "360"), ("push", "180")):
        assert json.loads(queues[kind]["RedrivePolicy"]) == {
            "deadLetterTargetArn": queues[f"{kind}-dlq"]["QueueArn"],
            "maxReceiveCount": 5,
        }
        assert queues[kind]["VisibilityTimeout"] == visibility_timeout
    for kind in ("jobs-dlq", "push-dlq", "fanout-failures"):
        assert queues[kind]["MessageRetentionPeriod"] == "1209600"  # 14 days, SQS's longest
        assert "RedrivePolicy" not in queues[kind]
    for attributes in queues.values():
        assert attributes["SqsManagedSseEnabled"] == "true"


def test_event_source_mappings_as_created(stack, configurations, queues, moto_server):
    functions = aws_client("lambda", moto_server)
    stream_arn = aws_client("dynamodb", moto_server).describe_table(TableName=f"{SERVICE}-events-dev")["Table"][
        "LatestStreamArn"
    ]
    (fanout,) = functions.list_event_source_mappings(FunctionName=configurations["fanout"]["FunctionArn"])[
        "EventSourceMappings"
    ]
    assert fanout["EventSourceArn"] == stream_arn
    assert fanout["State"] == "Enabled"
    assert (fanout["BatchSize"], fanout["StartingPosition"]) == (100, "TRIM_HORIZON")
    assert (fanout["BisectBatchOnFunctionError"], fanout["MaximumRetryAttempts"]) == (True, 10)
    assert fanout["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert fanout["DestinationConfig"] == {"OnFailure": {"Destination": queues["fanout-failures"]["QueueArn"]}}
    (jobs,) = functions.list_event_source_mappings(FunctionName=configurations["jobs"]["FunctionArn"])[
        "EventSourceMappings"
    ]
    assert jobs["EventSourceArn"] == queues["jobs"]["QueueArn"]
    assert (jobs["State"], jobs["BatchSize"]) == ("Enabled", 1)
    assert jobs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    (deliver,) = functions.list_event_source_mappings(FunctionName=configurations["deliver"]["FunctionArn"])[
        "EventSourceMappings"
    ]
    assert deliver["EventSourceArn"] == queues["push"]["QueueArn"]
    assert (deliver["State"], deliver["BatchSize"]) == ("Enabled", 10)
    assert deliver["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


@pytest.fixture(scope="module")
def first_api_key(stack, moto_server):
    """Created as docs/deploy.md says: `python -m triggers.cli.api_keys create --stage ...`."""
    env = {**base_environment(), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    command = ["-m", "triggers.cli.api_keys", "create", "--stage", "dev", "--tenant", "rehearsal"]
    command += ["--name", "deploy rehearsal", "--region", REGION, "--endpoint-url", moto_server]
    result = run([sys.executable, *command], env=env)
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("trg_"), result.stdout
    return key


def test_the_api_runs_on_the_stack_it_was_deployed_with(
    stack, dev_package, function_configuration, first_api_key, role_statements, moto_server, invoke, tmp_path
):
    # The zip exactly as uploaded to the deployment bucket, unpacked into an empty folder.
    task = unpack(dev_package.zip_path, tmp_path / "task")
    variables = function_configuration["Environment"]["Variables"]  # as moto's Lambda holds them
    assert variables["AUTH_MODE"] == "aws"
    result = invoke(task, handler_environment(variables, moto_server), "lifecycle", api_key=first_api_key)
    assert_lifecycle(result["requests"])
    created = result["requests"][2]["body"]
    item = aws_client("dynamodb", moto_server).scan(TableName=stack["outputs"]["EventsTableName"])["Items"]
    assert created["event_id"] not in json.dumps(item)  # deleted by the lifecycle's last write
    tables = {table for call in result["dynamodb_calls"] for _, table, _ in dynamodb_permissions(call)}
    assert tables == {stack["outputs"][k] for k in ("EventsTableName", "ApiKeysTableName", "RateLimitsTableName")}
    listing = {"list_tenant", "list_source", "list_type", "list_source_type"}
    assert {"inbox", *listing} == {call["index"] for call in result["dynamodb_calls"] if call["index"]}
    assert_calls_granted(role_statements, [result], moto_server)  # step 6


def test_a_subscription_through_the_three_functions_on_the_stack(
    stack, dev_package, configurations, first_api_key, role_statements, moto_server, invoke, tmp_path
):
    task = unpack(dev_package.zip_path, tmp_path / "task")
    environments = {
        name: handler_environment(configurations[name]["Environment"]["Variables"], moto_server) for name in FUNCTIONS
    }
    variables = configurations["api"]["Environment"]["Variables"]

    def run(scenario: str, **request) -> dict:
        handler = request.get("handler", "handlers.lambda_handler")
        function = {"handlers.fanout_handler": "fanout", "handlers.jobs_handler": "jobs"}.get(handler, "api")
        return invoke(task, environments[function], scenario, api_key=first_api_key, **request)

    stream = TableChanges(moto_server, variables["DYNAMODB_TABLE_EVENTS"], ("pk",))
    event_id, outcomes = subscription_journey(run, stream, QueueFeed(moto_server, variables["JOBS_QUEUE"]))
    deliveries = aws_client("dynamodb", moto_server).scan(TableName=variables["DYNAMODB_TABLE_DELIVERIES"])["Items"]
    assert event_id not in json.dumps(deliveries)
    touched = {table for o in outcomes for call in o["dynamodb_calls"] for _, table, _ in dynamodb_permissions(call)}
    assert touched == {name for key, name in variables.items() if key.startswith("DYNAMODB_TABLE_")}
    used = assert_calls_granted(role_statements, outcomes, moto_server)  # step 6
    # And nothing more: on the tables this journey covers whole, the role grants exactly what the handlers used.
    dynamodb = aws_client("dynamodb", moto_server)
    kinds = ("SUBSCRIPTIONS", "DELIVERIES", "JOBS")
    arns = [dynamodb.describe_table(TableName=variables[f"DYNAMODB_TABLE_{k}"])["Table"]["TableArn"] for k in kinds]

    def on_these_tables(resource: str) -> bool:
        return any(resource == arn or resource.startswith(f"{arn}/index/") for arn in arns)

    grants = {
        (action, resource)
        for statement in role_statements
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
        if on_these_tables(resource)
    }
    assert {(action, resource) for action, resource in used if on_these_tables(resource)} == grants


@pytest.fixture(scope="module")
def role_statements(stack, moto_server) -> list[dict]:
    """The statements of the functions' role as the stack created it (moto resolved its ARNs)."""
    iam = aws_client("iam", moto_server)
    role = next(r for r in stack["resources"] if r["LogicalResourceId"] == "IamRoleLambdaExecution")
    statements = []
    for policy_name in iam.list_role_policies(RoleName=role["PhysicalResourceId"])["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role["PhysicalResourceId"], PolicyName=policy_name)["PolicyDocument"]
        if isinstance(document, str):
            # moto's CloudFormation stores an inline role policy as Python's repr of the document, not JSON.
            document = ast.literal_eval(urllib.parse.unquote(document))
        statements += document["Statement"]
    return statements


def granted(statements: list[dict], action: str, resource: str) -> bool:
    return any(
        s["Effect"] == "Allow" and action in as_list(s["Action"]) and resource in as_list(s["Resource"])
        for s in statements
    )


def assert_calls_granted(statements: list[dict], outcomes: list[dict], endpoint: str) -> set[tuple[str, str]]:
    """Each DynamoDB and SQS call the runs made is allowed by the role, on the ARN it touched; (action, ARN) of each."""
    dynamodb, sqs = aws_client("dynamodb", endpoint), aws_client("sqs", endpoint)
    table_arns: dict[str, str] = {}
    used = set()
    for outcome in outcomes:
        for call in outcome["dynamodb_calls"]:
            for action, table, index in dynamodb_permissions(call):
                if table not in table_arns:
                    table_arns[table] = dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
                resource = table_arns[table] + (f"/index/{index}" if index else "")
                assert granted(statements, action, resource), f"{action} on {resource} is not granted"
                used.add((action, resource))
        for call in outcome["sqs_calls"]:
            url = call["queue_url"] or sqs.get_queue_url(QueueName=call["queue_name"])["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            # IAM authorises SendMessageBatch as SendMessage (the SQS API reference, "Batch actions").
            action = f"sqs:{call['operation'].removesuffix('Batch')}"
            assert granted(statements, action, arn), f"{action} on {arn} is not granted"
            used.add((action, arn))
    return used


def test_the_role_lets_lambda_feed_the_stream_and_queue_functions(role_statements, queues, moto_server):
    """What the event source mappings need of the functions' role (osls adds it): Lambda's poller acts as the role."""
    stream_arn = aws_client("dynamodb", moto_server).describe_table(TableName=f"{SERVICE}-events-dev")["Table"][
        "LatestStreamArn"
    ]
    for action in ("GetRecords", "GetShardIterator", "DescribeStream", "ListStreams"):
        assert granted(role_statements, f"dynamodb:{action}", stream_arn), action
    assert granted(role_statements, "sqs:SendMessage", queues["fanout-failures"]["QueueArn"])  # on-failure records
    for action in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes"):
        assert granted(role_statements, f"sqs:{action}", queues["jobs"]["QueueArn"]), action


def as_list(value):
    return value if isinstance(value, list) else [value]


def test_the_key_tool_writes_the_table_the_stack_made(stack, first_api_key, moto_server):
    items = aws_client("dynamodb", moto_server).scan(TableName=stack["outputs"]["ApiKeysTableName"])["Items"]
    assert [item["tenant_id"]["S"] for item in items] == ["rehearsal"]
    assert first_api_key not in json.dumps(items)  # stored as a hash only
