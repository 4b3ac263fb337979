"""Shared fixtures: a moto DynamoDB server, tables from serverless.yml, API keys for fresh tenants, and a client
that drives the real Lambda handler with API Gateway REST events.

Tests never share a tenant: each key fixture makes a new one, so tests cannot see each other's events.
"""

import json
import os
import uuid
from dataclasses import dataclass
from types import SimpleNamespace

import boto3
import pytest

from scripts import dynamodb_tables, moto_dynamodb
from scripts.api_gateway_events import rest_event

STAGE = "test"


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server for the whole run; its endpoint and fake credentials go into the environment."""
    port = moto_dynamodb.free_port()
    process = moto_dynamodb.start(port)
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "DYNAMODB_ENDPOINT_URL": endpoint,
            "STAGE": STAGE,
            "DYNAMODB_TABLE_EVENTS": dynamodb_tables.table_name("events", STAGE),
            "DYNAMODB_TABLE_KEYS": dynamodb_tables.table_name("keys", STAGE),
            "DYNAMODB_TABLE_RATE_LIMITS": dynamodb_tables.table_name("ratelimits", STAGE),
            # Counted, but high enough that fuzzing never meets it; test_rate_limits sets low limits.
            "RATE_LIMIT_PER_MINUTE": "100000",
            "AUTH_MODE": "aws",
            "CURSOR_SECRET": "test-cursor-secret-0123456789abcdef",
            "VALIDATE_RESPONSES": "true",
            "API_KEY_CACHE_SECONDS": "0",
            "LOG_LEVEL": "DEBUG",
        }
    )
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def dynamodb_client(moto_endpoint):
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    dynamodb_tables.ensure_tables(
        client, {kind: dynamodb_tables.table_name(kind, STAGE) for kind in dynamodb_tables.TABLE_RESOURCES}
    )
    return client


@pytest.fixture(scope="session")
def lambda_handler(dynamodb_client):
    """The real entry point, imported once the environment points at moto (as a Lambda container would)."""
    from handlers import lambda_handler

    return lambda_handler.handler


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_api_key(dynamodb_client):
    """Create an active key for a new tenant (or the given one); returns (key, tenant)."""
    from triggers.auth.api_keys import generate_key, hash_key
    from triggers.storage import api_keys

    def make(tenant: str | None = None) -> tuple[str, str]:
        tenant = tenant or unique("tenant")
        key = generate_key()
        api_keys.insert(
            api_keys.ApiKeyRecord(hash_key(key), tenant, "test", True, "2026-11-22T00:00:00.000000Z"),
            dynamodb_tables.table_name("keys", STAGE),
        )
        return key, tenant

    return make


@dataclass
class Response:
    status: int
    headers: dict
    body: str

    @property
    def json(self):
        return json.loads(self.body)


@pytest.fixture
def call(lambda_handler):
    """Send one request through the Lambda handler: call("POST", "/v1/events", key=..., body={...})."""

    def send(method, path, *, key=None, body=None, headers=None, query=None, stage="dev") -> Response:
        headers = dict(headers or {})
        if key is not None:
            headers["X-API-Key"] = key
        event = rest_event(method, path, body=body, headers=headers, query=query, stage=stage)
        context = SimpleNamespace(aws_request_id=str(uuid.uuid4()), function_name="triggers-api-test-api")
        result = lambda_handler(event, context)
        return Response(int(result["statusCode"]), {k.lower(): v for k, v in result["headers"].items()}, result["body"])

    return send


def new_event(**overrides) -> dict:
    body = {"source": "billing", "event_type": "invoice.paid", "payload": {"invoice_id": unique("inv")}}
    body.update(overrides)
    return body
