"""Invoke the unpacked Lambda package the way the Lambda runtime does, in a process of its own.

Not a test module: tests/deploy starts it as `python3.13 -I -S lambda_runner.py REQUEST.json RESULT.json`, so the
interpreter sees nothing but the standard library until this script puts on sys.path exactly the directories the
request names (the unpacked zip, then a folder holding only boto3 and its dependencies, like the runtime's own
copy). The application reads its configuration from the environment the test passes in.

A request is JSON: {"sys_path": [...], "scenario": ..., "handler": "handlers.lambda_handler", "api_key": "..."}.
Scenarios:
- "import": import the handler's module, nothing else;
- "health": GET /v1/health;
- "lifecycle": checks readiness, creates, reads, lists, acknowledges and deletes one event, then reads it again and
  lists the inbox with an unknown key;
- "requests": the API requests the request lists ({"method", "path", "body", "query"}), with the API key;
- "event": the handler (any of the three functions' entry points) called once with the request's "event", as
  Lambda calls it for a DynamoDB Streams batch or an SQS batch.
The result is JSON: where the modules come from, one entry per request (method, path, status, headers, body), what
an "event" handler returned, and every DynamoDB and SQS call the handler made (operation, table, index, queue), so
the test can check them against the functions' IAM policy. The test asserts; this script only reports.
"""

import importlib
import importlib.util
import json
import sys
import uuid


class LambdaContext:
    """The attributes of the runtime's context object that handlers commonly read."""

    function_version = "$LATEST"
    memory_limit_in_mb = "512"
    log_stream_name = "2026/11/22/[$LATEST]0123456789abcdef"

    def __init__(self, function="api"):
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = f"triggers-api-rehearsal-{function}"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self):
        return 25_000


def rest_api_event(method, path, *, headers=None, body=None, query=None):
    """An API Gateway REST API (payload v1) proxy event for `/{proxy+}` on stage `dev`."""
    headers = {"Accept": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {name: [value] for name, value in query.items()} if query else None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": "/dev" + path,
            "stage": "dev",
            "requestId": str(uuid.uuid4()),
            "accountId": "123456789012",
            "apiId": "abc123",
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "rehearsal"},
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def record_calls(dynamodb_calls, sqs_calls):
    """Note every DynamoDB and SQS operation botocore sends (the test compares them with the IAM policy).

    A transaction is noted with its items (IAM authorises each as its own Put/Update/Delete/ConditionCheck), a batch
    with its tables."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def recording(self, operation_name, api_params):
        service = self.meta.service_model.service_name
        if service == "dynamodb":
            dynamodb_calls.append(
                {
                    "operation": operation_name,
                    "table": api_params.get("TableName"),
                    "index": api_params.get("IndexName"),
                    "items": [
                        [kind, item[kind].get("TableName")]
                        for item in api_params.get("TransactItems", [])
                        for kind in item
                    ],
                    "tables": sorted(api_params.get("RequestItems", {})),
                }
            )
        elif service == "sqs":
            sqs_calls.append(
                {
                    "operation": operation_name,
                    "queue_name": api_params.get("QueueName"),
                    "queue_url": api_params.get("QueueUrl"),
                }
            )
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = recording  # type: ignore[attr-defined]


def call(handler, requests, method, path, **kwargs):
    response = handler(rest_api_event(method, path, **kwargs), LambdaContext())
    body = response.get("body") or ""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = body
    requests.append(
        {
            "method": method,
            "path": path,
            "status": int(response["statusCode"]),  # aws-wsgi answers "200"; API Gateway takes either
            "headers": {name.lower(): value for name, value in (response.get("headers") or {}).items()},
            "body": parsed,
        }
    )
    return requests[-1]


LISTINGS = [
    {},
    {"source": "billing"},
    {"event_type": "invoice.paid"},
    {"source": "billing", "event_type": "invoice.paid"},
]


def lifecycle(handler, requests, api_key):
    auth = {"X-API-Key": api_key}
    call(handler, requests, "GET", "/v1/health/ready")  # reads the keys table
    created = call(
        handler,
        requests,
        "POST",
        "/v1/events",
        headers=auth,
        body={"source": "billing", "event_type": "invoice.paid", "payload": {"invoice_id": "inv_rehearsal", "n": 1}},
    )
    event_id = (created["body"] or {}).get("event_id") if isinstance(created["body"], dict) else None
    if not event_id:
        return
    call(handler, requests, "GET", f"/v1/events/{event_id}", headers=auth)
    call(handler, requests, "GET", "/v1/inbox", headers=auth)
    for query in LISTINGS:  # one index per filter combination: each must be granted
        call(handler, requests, "GET", "/v1/events", headers=auth, query=query or None)
    call(handler, requests, "POST", f"/v1/events/{event_id}/ack", headers=auth)
    call(handler, requests, "DELETE", f"/v1/events/{event_id}", headers=auth)
    call(handler, requests, "GET", f"/v1/events/{event_id}", headers=auth)
    call(handler, requests, "GET", "/v1/inbox", headers={"X-API-Key": "trg_" + "x" * 43})


def main(request_path, result_path):
    with open(request_path, encoding="utf-8") as stream:
        request = json.load(stream)
    sys.path[:0] = request["sys_path"]
    result = {"python": list(sys.version_info[:3]), "flags": {"isolated": sys.flags.isolated}}
    dynamodb_calls: list[dict] = []
    sqs_calls: list[dict] = []
    record_calls(dynamodb_calls, sqs_calls)

    handler_module = request.get("handler", "handlers.lambda_handler")  # the function's configured handler module
    entry = importlib.import_module(handler_module)

    modules = {}  # where each comes from (or would, if the app has not imported it yet)
    for name in (handler_module, "triggers", "connexion", "awsgi", "yaml", "rpds", "boto3", "botocore"):
        spec = importlib.util.find_spec(name)
        modules[name] = spec.origin if spec else None
    result["modules"] = modules
    result["sys_path"] = sys.path

    requests: list[dict] = []
    scenario = request["scenario"]
    if scenario in ("health", "lifecycle"):
        call(entry.handler, requests, "GET", "/v1/health")
    if scenario == "lifecycle":
        lifecycle(entry.handler, requests, request["api_key"])
    if scenario == "requests":
        auth = {"X-API-Key": request["api_key"]}
        for item in request["requests"]:
            call(
                entry.handler,
                requests,
                item["method"],
                item["path"],
                headers=auth,
                body=item.get("body"),
                query=item.get("query"),
            )
    # "import": the entry point imports and builds its container (above), nothing is called.
    if scenario == "event":
        function = handler_module.rsplit(".", 1)[-1].removesuffix("_handler")
        result["handler_result"] = entry.handler(request["event"], LambdaContext(function))
    result["requests"] = requests
    result["dynamodb_calls"] = dynamodb_calls
    result["sqs_calls"] = sqs_calls
    with open(result_path, "w", encoding="utf-8") as stream:
        json.dump(result, stream, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
