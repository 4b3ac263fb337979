"""What the benchmark's processes share: the settings they run with, their tenants and the requests they send."""

import logging
import os
import uuid
from types import SimpleNamespace
from typing import Any

from scripts.api_gateway_events import rest_event
from triggers.auth.api_keys import generate_key, hash_key
from triggers.settings import Settings
from triggers.storage.api_keys import ApiKeyRecord, ApiKeyStore

# A deployed stage's configuration, minus DynamoDB (the in-memory double stands in): keys looked up and cached,
# responses not validated, one INFO log line per request, rate limits counted (with a limit no run reaches).
ENVIRONMENT = {
    "STAGE": "bench",
    "AUTH_MODE": "aws",
    "CURSOR_SECRET": "bench-cursor-secret-0123456789abcdef",
    "API_KEY_CACHE_SECONDS": "300",
    "VALIDATE_RESPONSES": "false",
    "LOG_LEVEL": "INFO",
    "RATE_LIMIT_PER_MINUTE": "1000000000",
}

VALID_EVENT: dict[str, Any] = {
    "source": "billing",
    "event_type": "invoice.paid",
    "payload": {"invoice_id": "inv_1001", "amount_cents": 4200},
}
INVALID_EVENT: dict[str, Any] = {"source": "billing", "payload": {"invoice_id": "inv_1001"}}  # no event_type: 400


def new_tenant(settings: Settings, dynamodb, prefix: str = "bench") -> tuple[str, str]:
    """A new tenant and an active API key for it, stored through the real key store; returns (key, tenant)."""
    tenant, key = f"{prefix}-{uuid.uuid4().hex[:12]}", generate_key()
    record = ApiKeyRecord(hash_key(key), tenant, "bench", True, "2026-11-22T00:00:00.000000Z")
    ApiKeyStore(dynamodb, settings.keys_table).insert(record)
    return key, tenant


def silence_logs() -> None:
    """Log lines are still built and formatted (ours pays for them) but written nowhere: stdout is the report's."""
    sink = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)


def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(aws_request_id=str(uuid.uuid4()), function_name="triggers-api-bench-api")


def create_request(key: str, body: dict | None = None, idempotency_key: str | None = None) -> dict:
    headers = {"X-API-Key": key} | ({"Idempotency-Key": idempotency_key} if idempotency_key else {})
    return rest_event("POST", "/v1/events", headers=headers, body=body or VALID_EVENT)
