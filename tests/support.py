"""Helpers the tests share: unique ids, request bodies, the Lambda handler driver and problem assertions.

The one module tests import helpers from (fixtures stay in conftest.py files)."""

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import boto3

from scripts.api_gateway_events import rest_event
from triggers.app import create_app
from triggers.http.wsgi import lambda_handler
from triggers.services import create_workers
from triggers.settings import Settings, from_environment
from triggers.storage.dynamodb import make_client, make_counter_client

STAGE = "test"
PROBLEM_FIELDS = {"type", "title", "status", "detail", "request_id"}
# moto answers any credentials; region and keys are explicit so nothing depends on the machine's AWS settings.
AWS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def new_event(**overrides) -> dict:
    body = {"source": "billing", "event_type": "invoice.paid", "payload": {"invoice_id": unique("inv")}}
    body.update(overrides)
    return body


def stage_settings(endpoint: str, **overrides: str) -> Settings:
    """The settings of the test stage against a moto endpoint; `overrides` are environment variables."""
    environment = {
        "STAGE": STAGE,
        "DYNAMODB_ENDPOINT_URL": endpoint,
        "SQS_ENDPOINT_URL": endpoint,
        # Counted, but high enough that fuzzing never meets it; rate-limit tests set low limits.
        "RATE_LIMIT_PER_MINUTE": "100000",
        # Every stored event comes from one address (tests/events/rest_api_event.json's sourceIp).
        "RATE_LIMIT_PER_ADDRESS_PER_MINUTE": "100000",
        "AUTH_MODE": "aws",
        "CURSOR_SECRET": "test-cursor-secret-0123456789abcdef",
        "VALIDATE_RESPONSES": "true",
        "API_KEY_CACHE_SECONDS": "0",
        "LOG_LEVEL": "DEBUG",
        **overrides,
    }
    return from_environment(environment)


def client_for(settings: Settings):
    """A DynamoDB client configured as the app configures its own (timeouts, retries), with test credentials."""
    return make_client(
        settings,
        boto3.Session(
            region_name=AWS["region_name"],
            aws_access_key_id=AWS["aws_access_key_id"],
            aws_secret_access_key=AWS["aws_secret_access_key"],
        ),
    )


def counter_client_for(settings: Settings):
    """A client configured as the app's rate-limit counter's own (one short try), with test credentials."""
    return make_counter_client(
        settings,
        boto3.Session(
            region_name=AWS["region_name"],
            aws_access_key_id=AWS["aws_access_key_id"],
            aws_secret_access_key=AWS["aws_secret_access_key"],
        ),
    )


def queue_client_for(settings: Settings):
    """An SQS client for moto's server (it serves SQS at the same endpoint), with test credentials."""
    return boto3.Session(
        region_name=AWS["region_name"],
        aws_access_key_id=AWS["aws_access_key_id"],
        aws_secret_access_key=AWS["aws_secret_access_key"],
    ).client("sqs", endpoint_url=settings.sqs_endpoint_url)


def handler_for(settings: Settings, dynamodb=None, counters=None):
    """The Lambda handler of a new container: its own app, key cache and rate-limit leases. The rate-limit counter
    uses `dynamodb` too unless `counters` (its own client, as deployed: counter_client_for) is given."""
    return lambda_handler(
        create_app(settings, dynamodb or client_for(settings), queue_client_for(settings), counters=counters)
    )


@dataclass
class Response:
    status: int
    headers: dict
    body: str

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def invoke(
    handler, method, path, *, key=None, body=None, headers=None, query=None, stage="dev", source_ip=None
) -> Response:
    """One request through a Lambda handler, as API Gateway would send it (from `source_ip`, if given, rather than
    the stored event's address)."""
    headers = dict(headers or {})
    if key is not None:
        headers["X-API-Key"] = key
    event = rest_event(method, path, body=body, headers=headers, query=query, stage=stage)
    if source_ip is not None:
        event["requestContext"]["identity"]["sourceIp"] = source_ip
    context = SimpleNamespace(aws_request_id=str(uuid.uuid4()), function_name="triggers-api-test-api")
    result = handler(event, context)
    return Response(int(result["statusCode"]), {k.lower(): v for k, v in result["headers"].items()}, result["body"])


def assert_problem(response: Response, status: int, type_: str | None = None) -> dict:
    assert response.status == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json
    assert PROBLEM_FIELDS <= body.keys()
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    if type_:
        assert body["type"] == type_
    return body


def expire(client, table: str, tenant: str, event_id: str) -> None:
    """Time passes for one event: its TTL is in the past, and DynamoDB has not deleted it yet."""
    client.update_item(
        TableName=table,
        Key={"pk": {"S": f"{tenant}#{event_id}"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )


def drain(queue_client, queue_name: str, handler, wait_seconds: int = 0) -> int:
    """Feed every message waiting in a queue to a queue function, as Lambda's SQS poller would, until the queue is
    empty (waiting up to `wait_seconds` for a delayed one); how many messages ran. Every message must succeed."""
    url = queue_client.get_queue_url(QueueName=queue_name)["QueueUrl"]
    ran = 0
    while True:
        messages = queue_client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds).get(
            "Messages", []
        )
        if not messages:
            return ran
        records = [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]
        assert handler({"Records": records}, None) == {"batchItemFailures": []}
        for message in messages:
            queue_client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        ran += len(messages)


def workers_for(settings: Settings, dynamodb=None):
    """The services of a stream or queue function's container."""
    return create_workers(settings, dynamodb or client_for(settings), queue_client_for(settings))


class EventStream:
    """The events table's DynamoDB stream on moto, read from now on and fed, as Lambda would feed it, to the fan-out
    function's handler: `pump()` hands every record written since the last call over in one batch."""

    def __init__(self, settings: Settings, handler):
        session = boto3.Session(
            region_name=AWS["region_name"],
            aws_access_key_id=AWS["aws_access_key_id"],
            aws_secret_access_key=AWS["aws_secret_access_key"],
        )
        self.client = session.client("dynamodbstreams", endpoint_url=settings.dynamodb_endpoint_url)
        self.handler = handler
        arn = client_for(settings).describe_table(TableName=settings.events_table)["Table"]["LatestStreamArn"]
        shards = self.client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        self.iterators = [
            self.client.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST")[
                "ShardIterator"
            ]
            for shard in shards
        ]

    def records(self) -> list[dict]:
        records = []
        for index, iterator in enumerate(self.iterators):
            response = self.client.get_records(ShardIterator=iterator)
            records += response["Records"]
            self.iterators[index] = response["NextShardIterator"]
        return records

    def pump(self) -> list[dict]:
        """Feed what arrived to the handler; the records fed (a test may feed them again: a replay)."""
        records = self.records()
        if records:
            assert self.handler({"Records": records}, None) == {"batchItemFailures": []}
        return records


# The subscription calls the API tests make again and again, each asserting its success.


def subscribe(call, key, **body) -> dict:
    response = call("POST", "/v1/subscriptions", key=key, body={"name": "worker", **body})
    assert response.status == 201, response.body
    return response.json


def publish(call, key, stream, *bodies) -> list[dict]:
    """Create events, then let the fan-out run; their 201 bodies (event_id, created_at)."""
    created = []
    for body in bodies:
        response = call("POST", "/v1/events", key=key, body=body)
        assert response.status == 201, response.body
        created.append(response.json)
    stream.pump()
    return created


def receive(call, key, subscription, **body) -> list[dict]:
    response = call("POST", f"/v1/subscriptions/{subscription['subscription_id']}/receive", key=key, body=body)
    assert response.status == 200, response.body
    return response.json["deliveries"]


def settle(call, key, subscription, action, body) -> list[str]:
    """ack, nack or extend: each item's outcome."""
    response = call("POST", f"/v1/subscriptions/{subscription['subscription_id']}/{action}", key=key, body=body)
    assert response.status == 200, response.body
    return [result["outcome"] for result in response.json["results"]]


class Receiver:
    """An HTTP server on 127.0.0.1 that answers each POST with the next scripted status (the last one repeats)
    and keeps what it got."""

    def __init__(self) -> None:
        self.statuses: list[int] = [200]
        self.hang_seconds = 0.0
        self.before_answer: Callable[[], object] = lambda: None
        self.got: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                with receiver.lock:
                    receiver.got.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                receiver.before_answer()
                time.sleep(receiver.hang_seconds)
                self.send_response(status)
                if status == 302:
                    self.send_header("location", "/elsewhere")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeRawResponse:
    """What botocore reads a response body from, for a hook that answers in DynamoDB's place."""

    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body
