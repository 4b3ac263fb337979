"""The operations on events: what the API promises, independent of HTTP and of DynamoDB's vocabulary."""

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

from triggers import settings
from triggers.domain.errors import EventNotFound, IdempotencyKeyReused
from triggers.domain.model import PENDING, Event, format_time
from triggers.storage import events as store

# Fixed forever: changing it would give retried idempotency keys new event ids.
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d3c56-6a63-4c7e-9b7a-0d8f2f6b9a41")


def _now() -> datetime:
    return datetime.now(UTC)


def _request_hash(source: str, event_type: str, payload: dict) -> str:
    canonical = json.dumps([source, event_type, payload], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_event(
    tenant_id: str, source: str, event_type: str, payload: dict, idempotency_key: str | None = None
) -> Event:
    """Store a pending event. With an idempotency key, the event id is derived from tenant and key, so a retry
    meets the first write's item in the same conditional put: the original comes back and nothing new is stored."""
    now = _now()
    request_hash = None
    event_id = str(uuid.uuid4())
    if idempotency_key is not None:
        request_hash = _request_hash(source, event_type, payload)
        event_id = str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{tenant_id}\n{idempotency_key}"))
    event = Event(
        tenant_id=tenant_id,
        event_id=event_id,
        source=source,
        event_type=event_type,
        payload=payload,
        status=PENDING,
        created_at=format_time(now),
        expires_at=int((now + timedelta(days=settings.current().retention_days)).timestamp()),
        request_hash=request_hash,
    )
    try:
        store.insert(event, now=int(now.timestamp()))
    except store.DuplicateEvent as duplicate:
        original = duplicate.existing
        if idempotency_key is None or original is None or original.request_hash != request_hash:
            raise IdempotencyKeyReused(event_id) from duplicate
        return original
    return event


def get_event(tenant_id: str, event_id: str) -> Event:
    event = store.get(tenant_id, event_id, now=int(_now().timestamp()))
    if event is None:
        raise EventNotFound(event_id)
    return event


def acknowledge_event(tenant_id: str, event_id: str) -> str:
    """Acknowledge a pending event; returns when it was acknowledged."""
    now = _now()
    acknowledged_at = format_time(now)
    store.acknowledge(tenant_id, event_id, acknowledged_at, now=int(now.timestamp()))
    return acknowledged_at


def delete_event(tenant_id: str, event_id: str) -> None:
    store.delete(tenant_id, event_id)


def list_inbox(
    tenant_id: str, limit: int, cursor: str | None, source: str | None, event_type: str | None
) -> tuple[list[Event], str | None]:
    return store.inbox_page(tenant_id, limit, cursor, now=int(_now().timestamp()), source=source, event_type=event_type)
