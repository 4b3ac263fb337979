"""CodeDeploy's before-traffic hook of the api function's canary (serverless.yml, `deploymentSettings`).

On a stage with the canary (`canary` param: staging, prod), each deploy that changes the api function publishes a
version and CodeDeploy moves the alias `Live`, which API Gateway invokes, from the old version to the new one by
steps. Before it shifts any traffic it invokes the `beforeTraffic` function with
`{"DeploymentId", "LifecycleEventHookExecutionId"}`; this module is that function:

1. it asks CodeDeploy what the deployment shifts (GetDeployment, then GetApplicationRevision: the AppSpec names the
   function, the alias, the current and the target version);
2. it invokes the *target version* itself, not the alias (which still sends every request to the old one), with the
   API Gateway events of GET /v1/health and GET /v1/health/ready: the new code must start (its init reads the cursor
   secret, builds the app) and reach DynamoDB with the function's own role and configuration;
3. it reports Succeeded to CodeDeploy (PutLifecycleEventHookExecutionStatus) only if both answer 200 with status
   `ok` and `ready`. Anything else (an AppSpec it cannot read, an error of the function, another status, an
   exception of its own) reports Failed: CodeDeploy stops the deployment, CloudFormation rolls the stack update back,
   and no client request ever reached the new version.

The hook reports whatever happens: a hook that never reports leaves CodeDeploy waiting an hour before it fails the
deployment. Only when the report itself cannot be sent does the handler raise (Lambda retries the asynchronous
invocation twice).

The clients are handed in (triggers/services.py, `create_before_traffic_check`); tests hand in stubs.
"""

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

logger = logging.getLogger(__name__)

SUCCEEDED, FAILED = "Succeeded", "Failed"
# path -> the `status` its JSON answer must hold (triggers/operations/health.py)
CHECKS = {"/v1/health": "ok", "/v1/health/ready": "ready"}


class HookError(Exception):
    """Why the new version is not let through: one line, logged and reported as Failed."""


@dataclass(frozen=True)
class Target:
    """A function version a Lambda deployment shifts an alias to (the AppSpec's resource properties)."""

    function: str
    alias: str
    current_version: str
    target_version: str


def targets_of(appspec: str) -> list[Target]:
    """The functions and versions a Lambda AppSpec (JSON or YAML) shifts traffic to."""
    found = []
    try:
        for resource in yaml.safe_load(appspec)["Resources"]:
            for entry in resource.values():
                if entry.get("Type") != "AWS::Lambda::Function":
                    continue
                properties = entry["Properties"]
                found.append(
                    Target(
                        function=str(properties["Name"]),
                        alias=str(properties["Alias"]),
                        current_version=str(properties["CurrentVersion"]),
                        target_version=str(properties["TargetVersion"]),
                    )
                )
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise HookError(f"the deployment's AppSpec cannot be read ({type(exc).__name__}: {exc})") from exc
    if not found:
        raise HookError("the deployment's AppSpec names no Lambda function")
    return found


def health_event(path: str, stage: str) -> dict:
    """The API Gateway REST (payload v1) event of `GET <path>` on the stage, as API Gateway would send it."""
    request_id = str(uuid.uuid4())
    headers = {"Accept": "application/json", "User-Agent": "triggers-api-before-traffic-hook"}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": "GET",
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "stage": stage,
            "requestId": request_id,
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers["User-Agent"]},
        },
        "body": None,
        "isBase64Encoded": False,
    }


class BeforeTrafficCheck:
    """`codedeploy` and `lambda_client`: boto3 clients (or anything with their methods)."""

    def __init__(self, codedeploy: Any, lambda_client: Any, stage: str, checks: dict[str, str] = CHECKS):
        self.codedeploy = codedeploy
        self.lambda_client = lambda_client
        self.stage = stage
        self.checks = checks

    def targets(self, deployment_id: str) -> list[Target]:
        info = self.codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        revision = info["revision"]
        content = _appspec_text(revision)
        if content is None:  # GetDeployment may name the revision without its content
            answer = self.codedeploy.get_application_revision(
                applicationName=info["applicationName"], revision=revision
            )
            content = _appspec_text(answer["revision"])
        if content is None:
            raise HookError(f"deployment {deployment_id} has no AppSpec content ({revision.get('revisionType')})")
        return targets_of(content)

    def probe(self, target: Target, path: str, expected: str) -> None:
        """Invoke the target version with GET <path>; raise HookError unless it answers 200 with that status."""
        answer = self.lambda_client.invoke(
            FunctionName=target.function,
            Qualifier=target.target_version,
            InvocationType="RequestResponse",
            Payload=json.dumps(health_event(path, self.stage)).encode(),
        )
        raw = answer["Payload"].read()
        where = f"{target.function}:{target.target_version} GET {path}"
        if answer.get("FunctionError"):
            raise HookError(f"{where}: the function failed ({answer['FunctionError']}): {raw[:300]!r}")
        try:
            response = json.loads(raw)
            status = int(response["statusCode"])
            body = json.loads(response.get("body") or "null")
        except (ValueError, KeyError, TypeError) as exc:
            raise HookError(f"{where}: not an API Gateway answer: {raw[:300]!r}") from exc
        if status != 200 or not isinstance(body, dict) or body.get("status") != expected:
            raise HookError(f"{where}: answered {status} {json.dumps(body)[:300]}")
        logger.info("before-traffic check passed", extra={"check": where, "version": body.get("version")})

    def verdict(self, deployment_id: str) -> str:
        try:
            for target in self.targets(deployment_id):
                for path, expected in self.checks.items():
                    self.probe(target, path, expected)
        except HookError as exc:
            logger.error("before-traffic check failed: %s", exc, extra={"deployment_id": deployment_id})
            return FAILED
        except Exception:
            logger.exception("before-traffic check could not run", extra={"deployment_id": deployment_id})
            return FAILED
        return SUCCEEDED

    def run(self, deployment_id: str, execution_id: str) -> str:
        """Check, then report the verdict to CodeDeploy; the verdict."""
        status = self.verdict(deployment_id)
        self.codedeploy.put_lifecycle_event_hook_execution_status(
            deploymentId=deployment_id, lifecycleEventHookExecutionId=execution_id, status=status
        )
        logger.info("reported %s to CodeDeploy", status, extra={"deployment_id": deployment_id})
        return status


def _appspec_text(revision: dict) -> str | None:
    for kind in ("appSpecContent", "string"):  # AppSpecContent, or the older RawString
        content = (revision.get(kind) or {}).get("content")
        if content:
            return content
    return None


def before_traffic_handler(check: BeforeTrafficCheck) -> Callable[[dict, Any], dict]:
    """The Lambda handler CodeDeploy invokes (asynchronously) before it allows traffic to the new version."""

    def handler(event: dict, context: Any) -> dict:
        status = check.run(event["DeploymentId"], event["LifecycleEventHookExecutionId"])
        return {"status": status}

    return handler
