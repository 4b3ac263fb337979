"""The operations on events: what the API promises, independent of HTTP and of DynamoDB's vocabulary."""

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from triggers.domain.cursors import CursorSigner
from triggers.domain.errors import AlreadyAcknowledged, DomainError, EventNotFound, IdempotencyKeyReused
from triggers.domain.model import ACKNOWLEDGED, PENDING, Event, IdempotencyRecord, format_time

if TYPE_CHECKING:
    from triggers.storage.events import EventStore, Position

# A page of events and where it ended (None: the end), as the store reads it from where the last one ended.
type PageReader = Callable[[Position | None], tuple[list[Event], Position | None]]

# Stripe's window: a key is answered as before for at least this long, whatever happens to its event.
IDEMPOTENCY_WINDOW = timedelta(hours=24)


class EventTooLarge(DomainError):
    """The event as it would be stored is over what storage holds in one item; the message says by how much."""


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
        self.list_cursors = cursors.scoped("events")  # never valid on the inbox, nor the inbox's here
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
        # The body's limit does not bound the stored size: the payload is stored as JSON written anew, where a
        # number is written in full.
        size = self.store.item_size(event)
        if size > self.store.ITEM_LIMIT_BYTES:
            raise EventTooLarge(
                f"The event would take {size} bytes as stored, over the limit of {self.store.ITEM_LIMIT_BYTES}; "
                "numbers in the payload are stored in full (1e15 as 1000000000000000.0)."
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
        now = int(self.clock().timestamp())
        return self._page(
            self.cursors,
            tenant_id,
            cursor,
            lambda start: self.store.inbox_page(tenant_id, limit, start, now, source=source, event_type=event_type),
        )

    def list_events(
        self, tenant_id: str, limit: int, cursor: str | None, source: str | None, event_type: str | None
    ) -> tuple[list[Event], str | None]:
        """A page of the tenant's events in any state, newest first, and the cursor of the next page (None: the
        end)."""
        now = int(self.clock().timestamp())
        return self._page(
            self.list_cursors,
            tenant_id,
            cursor,
            lambda start: self.store.list_page(tenant_id, limit, source, event_type, start, now),
        )

    @staticmethod
    def _page(
        cursors: CursorSigner, tenant_id: str, cursor: str | None, read: "PageReader"
    ) -> tuple[list[Event], str | None]:
        """Read the page a cursor points to (the first without one); the cursor of the next page, if any."""
        start = None
        if cursor is not None:
            sort, pk = cursors.decode(cursor, tenant_id, length=2)
            start = (sort, pk)
        page, end = read(start)
        return page, cursors.encode(end, tenant_id) if end else None
