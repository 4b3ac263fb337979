"""The operations on events: what the API promises, independent of HTTP and of DynamoDB's vocabulary."""

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from triggers.domain.cursors import CursorSigner
from triggers.domain.errors import AlreadyAcknowledged, EventNotFound, IdempotencyKeyReused
from triggers.domain.model import ACKNOWLEDGED, PENDING, Event, IdempotencyRecord, format_time

if TYPE_CHECKING:
    from triggers.storage.events import EventStore

# Stripe's window: a key is answered as before for at least this long, whatever happens to its event.
IDEMPOTENCY_WINDOW = timedelta(hours=24)


def _request_hash(source: str, event_type: str, payload: dict) -> str:
    canonical = json.dumps([source, event_type, payload], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def utc_now() -> datetime:
    return datetime.now(UTC)


class EventService:
    def __init__(
        self, store: "EventStore", cursors: CursorSigner, retention_days: int, clock: Callable[[], datetime] = utc_now
    ):
        self.store = store
        self.cursors = cursors
        self.retention = timedelta(days=retention_days)
        self.clock = clock

    def create_event(
        self, tenant_id: str, source: str, event_type: str, payload: dict, idempotency_key: str | None = None
    ) -> tuple[str, str]:
        """Store a pending event under a new id; its (event_id, created_at).

        With an idempotency key, the event and a record of the key are written in one transaction that fails if the
        key has a live record: a retry gets the first answer back and nothing new is stored."""
        now = self.clock()
        event = Event(
            tenant_id=tenant_id,
            event_id=str(uuid.uuid4()),
            source=source,
            event_type=event_type,
            payload=payload,
            status=PENDING,
            created_at=format_time(now),
            expires_at=int((now + self.retention).timestamp()),
        )
        if idempotency_key is None:
            self.store.insert(event)
            return event.event_id, event.created_at
        record = IdempotencyRecord(
            event_id=event.event_id,
            created_at=event.created_at,
            request_hash=_request_hash(source, event_type, payload),
            expires_at=max(event.expires_at, int((now + IDEMPOTENCY_WINDOW).timestamp())),
        )
        original = self.store.insert_once(event, record, idempotency_key, now=int(now.timestamp()))
        if original is None:
            return event.event_id, event.created_at
        if original.request_hash != record.request_hash:
            raise IdempotencyKeyReused(idempotency_key)
        return original.event_id, original.created_at

    def get_event(self, tenant_id: str, event_id: str) -> Event:
        event = self.store.get(tenant_id, event_id, now=int(self.clock().timestamp()))
        if event is None:
            raise EventNotFound(event_id)
        return event

    def acknowledge_event(self, tenant_id: str, event_id: str) -> str:
        """Acknowledge a pending event; returns when it was acknowledged."""
        now = self.clock()
        acknowledged_at = format_time(now)
        refused = self.store.acknowledge(tenant_id, event_id, acknowledged_at, now=int(now.timestamp()))
        if refused is None:
            return acknowledged_at
        existing = refused.existing
        if existing is not None and existing.expires_at > now.timestamp() and existing.status == ACKNOWLEDGED:
            raise AlreadyAcknowledged(event_id)
        raise EventNotFound(event_id)

    def delete_event(self, tenant_id: str, event_id: str) -> None:
        self.store.delete(tenant_id, event_id)

    def list_inbox(
        self, tenant_id: str, limit: int, cursor: str | None, source: str | None, event_type: str | None
    ) -> tuple[list[Event], str | None]:
        """A page of pending events, oldest first, and the cursor of the next page (None: the end)."""
        start = None
        if cursor is not None:
            inbox_sort, pk = self.cursors.decode(cursor, tenant_id, length=2)
            start = (inbox_sort, pk)
        page, end = self.store.inbox_page(
            tenant_id, limit, start, now=int(self.clock().timestamp()), source=source, event_type=event_type
        )
        return page, self.cursors.encode(end, tenant_id) if end else None
