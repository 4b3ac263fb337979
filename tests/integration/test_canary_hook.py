"""The canary's before-traffic hook (triggers/canary.py): CodeDeploy is a stub that records what the hook reports,
and the "new version" it invokes is the real Lambda handler of the API (tests/conftest.py, on moto), so the events
the hook sends are the ones the app must answer."""

import io
import json
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support import handler_for, stage_settings
from triggers.canary import FAILED, SUCCEEDED, BeforeTrafficCheck, before_traffic_handler, health_event, targets_of
from triggers.services import create_before_traffic_check

FUNCTION = "triggers-api-prod-api"
APPSPEC = json.dumps(
    {
        "version": 0.0,
        "Resources": [
            {
                "ApiLambdaFunction": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {"Name": FUNCTION, "Alias": "Live", "CurrentVersion": "7", "TargetVersion": "8"},
                }
            }
        ],
        "Hooks": [{"BeforeAllowTraffic": "triggers-api-prod-beforeTraffic"}],
    }
)
EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "hook-execution-1"}


class StubCodeDeploy:
    """GetDeployment with the AppSpec inline (as CloudFormation's deployments carry it), or only naming the
    revision (then GetApplicationRevision has it); every reported status is kept."""

    def __init__(self, appspec: str = APPSPEC, inline: bool = True, report_fails: bool = False):
        self.appspec = appspec
        self.inline = inline
        self.report_fails = report_fails
        self.reported: list[dict] = []
        self.revision_asked = 0

    def get_deployment(self, deploymentId):
        revision: dict = {"revisionType": "String", "string": {"sha256": "0" * 64}}
        if self.inline:
            revision["string"]["content"] = self.appspec
        return {"deploymentInfo": {"deploymentId": deploymentId, "applicationName": "app", "revision": revision}}

    def get_application_revision(self, applicationName, revision):
        self.revision_asked += 1
        return {"revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": self.appspec}}}

    def put_lifecycle_event_hook_execution_status(self, **request):
        if self.report_fails:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutLifecycle")
        self.reported.append(request)
        return {"lifecycleEventHookExecutionId": request["lifecycleEventHookExecutionId"]}


class VersionInvoker:
    """Lambda's Invoke of a function version: runs `handler` as that version, or fails as Lambda reports it."""

    def __init__(self, handler=None, function_error: str | None = None, raises: Exception | None = None):
        self.handler = handler
        self.function_error = function_error
        self.raises = raises
        self.calls: list[dict] = []

    def invoke(self, FunctionName, Qualifier, InvocationType, Payload):
        self.calls.append({"function": FunctionName, "qualifier": Qualifier, "event": json.loads(Payload)})
        if self.raises:
            raise self.raises
        if self.function_error:
            failure = {"errorMessage": "boom", "errorType": "RuntimeError"}
            return {
                "StatusCode": 200,
                "FunctionError": self.function_error,
                "Payload": io.BytesIO(json.dumps(failure).encode()),
            }
        context = SimpleNamespace(aws_request_id="hook-test", function_name=FunctionName)
        answer = self.handler(json.loads(Payload), context)
        return {"StatusCode": 200, "ExecutedVersion": Qualifier, "Payload": io.BytesIO(json.dumps(answer).encode())}


def test_a_healthy_version_is_let_through(lambda_handler):
    codedeploy, invoker = StubCodeDeploy(), VersionInvoker(lambda_handler)
    handler = before_traffic_handler(BeforeTrafficCheck(codedeploy, invoker, "prod"))
    assert handler(EVENT, None) == {"status": SUCCEEDED}
    # The target version itself, never the alias, with health then readiness.
    assert [(c["function"], c["qualifier"], c["event"]["path"]) for c in invoker.calls] == [
        (FUNCTION, "8", "/v1/health"),
        (FUNCTION, "8", "/v1/health/ready"),
    ]
    assert codedeploy.reported == [
        {"deploymentId": "d-ABCDEF123", "lifecycleEventHookExecutionId": "hook-execution-1", "status": "Succeeded"}
    ]


def test_the_appspec_is_asked_for_when_the_deployment_only_names_it(lambda_handler):
    codedeploy = StubCodeDeploy(inline=False)
    assert BeforeTrafficCheck(codedeploy, VersionInvoker(lambda_handler), "prod").run("d-1", "e-1") == SUCCEEDED
    assert codedeploy.revision_asked == 1


def test_a_version_that_cannot_reach_dynamodb_is_stopped():
    """Readiness is a 503 when the new version's DynamoDB is out of reach (the discard port: nothing listens)."""
    unreachable = stage_settings("http://127.0.0.1:9", DYNAMODB_MAX_ATTEMPTS="1", DYNAMODB_TIMEOUT_SECONDS="0.5")
    codedeploy, invoker = StubCodeDeploy(), VersionInvoker(handler_for(unreachable))
    assert BeforeTrafficCheck(codedeploy, invoker, "prod").run("d-1", "e-1") == FAILED
    assert [c["event"]["path"] for c in invoker.calls] == ["/v1/health", "/v1/health/ready"]
    assert codedeploy.reported[0]["status"] == "Failed"


def test_a_version_that_fails_is_stopped_at_the_first_check(caplog):
    codedeploy, invoker = StubCodeDeploy(), VersionInvoker(function_error="Unhandled")
    assert BeforeTrafficCheck(codedeploy, invoker, "prod").run("d-1", "e-1") == FAILED
    assert len(invoker.calls) == 1
    assert codedeploy.reported[0]["status"] == "Failed"
    assert "triggers-api-prod-api:8 GET /v1/health: the function failed (Unhandled)" in caplog.text


def test_a_version_answering_something_else_is_stopped():
    def teapot(event, context):
        return {"statusCode": 200, "headers": {}, "body": json.dumps({"status": "degraded"})}

    codedeploy = StubCodeDeploy()
    assert BeforeTrafficCheck(codedeploy, VersionInvoker(teapot), "prod").run("d-1", "e-1") == FAILED
    not_http = VersionInvoker(lambda event, context: {"unexpected": True})
    assert BeforeTrafficCheck(codedeploy, not_http, "prod").run("d-2", "e-2") == FAILED
    assert [r["status"] for r in codedeploy.reported] == ["Failed", "Failed"]


@pytest.mark.parametrize(
    "appspec",
    [
        "{not: [yaml",
        json.dumps({"version": 0.0, "Resources": []}),
        json.dumps({"Resources": [{"Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Name": "f"}}}]}),
    ],
)
def test_an_unreadable_appspec_is_a_failure_reported(appspec):
    codedeploy, invoker = StubCodeDeploy(appspec), VersionInvoker()
    assert BeforeTrafficCheck(codedeploy, invoker, "prod").run("d-1", "e-1") == FAILED
    assert not invoker.calls
    assert codedeploy.reported[0]["status"] == "Failed"


def test_an_error_of_the_hook_itself_is_still_reported():
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "Invoke")
    codedeploy = StubCodeDeploy()
    assert BeforeTrafficCheck(codedeploy, VersionInvoker(raises=denied), "prod").run("d-1", "e-1") == FAILED
    assert codedeploy.reported[0]["status"] == "Failed"


def test_a_report_that_cannot_be_sent_raises_so_lambda_retries(lambda_handler):
    handler = before_traffic_handler(
        BeforeTrafficCheck(StubCodeDeploy(report_fails=True), VersionInvoker(lambda_handler), "prod")
    )
    with pytest.raises(ClientError):
        handler(EVENT, None)


def test_targets_of_yaml_appspec():
    appspec = (
        "version: 0.0\nResources:\n  - api:\n      Type: AWS::Lambda::Function\n      Properties:\n"
        "        Name: f\n        Alias: Live\n        CurrentVersion: 3\n        TargetVersion: 4\n"
    )
    (target,) = targets_of(appspec)
    assert (target.function, target.alias, target.current_version, target.target_version) == ("f", "Live", "3", "4")


def test_the_event_is_the_stages_rest_event():
    event = health_event("/v1/health/ready", "prod")
    assert (event["httpMethod"], event["path"], event["requestContext"]["path"]) == (
        "GET",
        "/v1/health/ready",
        "/prod/v1/health/ready",
    )
    assert event["requestContext"]["stage"] == "prod" and event["body"] is None
    assert "X-API-Key" not in event["headers"]  # the health checks need none; the hook holds no key


def test_the_composition_root_makes_its_two_clients_without_calling_aws(monkeypatch):
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    check = create_before_traffic_check(stage_settings("http://127.0.0.1:9", STAGE="prod"), session)
    assert check.stage == "prod"
    assert check.codedeploy.meta.service_model.service_name == "codedeploy"
    assert check.lambda_client.meta.service_model.service_name == "lambda"
    assert check.lambda_client.meta.config.read_timeout == 60  # longer than the api function's 25 s
