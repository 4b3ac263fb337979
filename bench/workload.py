"""What every benchmark process shares: its environment, its tenants and keys, and the requests it sends."""

import logging
import os
import uuid

from scripts.api_gateway_events import rest_event

# The configuration of a deployed stage, minus DynamoDB: keys looked up through storage (and cached), responses
# not validated (production), one INFO log line per request, rate limits counted (with a limit no benchmark
# reaches: at the default, 1,000 calls a minute from one key would be refused).
ENVIRONMENT = {
    "STAGE": "bench",
    "AUTH_MODE": "aws",
    "CURSOR_SECRET": "bench-cursor-secret-0123456789abcdef",
    "API_KEY_CACHE_SECONDS": "300",
    "VALIDATE_RESPONSES": "false",
    "LOG_LEVEL": "INFO",
    "RATE_LIMIT_PER_MINUTE": "1000000000",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}

VALID_EVENT = {
    "source": "billing",
    "event_type": "invoice.paid",
    "payload": {"invoice_id": "inv_1001", "amount_cents": 4200},
}
INVALID_EVENT = {"source": "billing", "payload": {"invoice_id": "inv_1001"}}  # no event_type: 400


def configure_environment() -> None:
    """Before anything reads triggers.settings: the benchmark's configuration, whatever the caller's environment
    holds (a shell with LOG_LEVEL=DEBUG, or the test session's moto tables, would change what is measured)."""
    from triggers import settings

    read: set[str] = set()

    class Recording(dict):
        def get(self, name, default=None):
            read.add(name)
            return ENVIRONMENT.get(name, default)

    settings.from_environment(Recording())  # every variable the app reads
    for name in read:
        os.environ.pop(name, None)
    os.environ.update(ENVIRONMENT)


def silence_logs() -> None:
    """Log lines are still built and formatted (ours pays for them), but written nowhere."""
    sink = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)


def new_tenant(prefix: str = "bench") -> tuple[str, str]:
    """A new tenant and an active API key for it, stored through the real storage module; returns (key, tenant)."""
    from triggers.auth.api_keys import generate_key, hash_key
    from triggers.storage import api_keys

    tenant = f"{prefix}-{uuid.uuid4().hex[:12]}"
    key = generate_key()
    api_keys.insert(api_keys.ApiKeyRecord(hash_key(key), tenant, "bench", True, "2026-11-22T00:00:00.000000Z"))
    return key, tenant


def create_request(key: str, body: dict | None = None) -> dict:
    return rest_event("POST", "/v1/events", headers={"X-API-Key": key}, body=body or VALID_EVENT)


def health_request() -> dict:
    return rest_event("GET", "/v1/health")


def inbox_request(key: str, limit: int = 50) -> dict:
    return rest_event("GET", "/v1/inbox", headers={"X-API-Key": key}, query={"limit": limit})


def event_request(method: str, key: str, event_id: str, suffix: str = "") -> dict:
    return rest_event(method, f"/v1/events/{event_id}{suffix}", headers={"X-API-Key": key})
