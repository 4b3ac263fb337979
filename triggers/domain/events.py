"""The operations on events: what the API promises, independent of HTTP and of DynamoDB's vocabulary."""

import hashlib
import json
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from triggers.domain.cursors import CursorSigner
from triggers.domain.errors import (
    AlreadyAcknowledged,
    DomainError,
    EventNotAllowed,
    EventNotFound,
    EventTooLarge,
    IdempotencyKeyReused,
    RetentionTooLong,
)
from triggers.domain.model import ACKNOWLEDGED, PENDING, Event, IdempotencyRecord, WriteGrant, format_time

if TYPE_CHECKING:
    from triggers.storage.events import EventStore, Position

# A page of events and where it ended (None: the end), as the store reads it from where the last one ended.
type PageReader = Callable[[Position | None], tuple[list[Event], Position | None]]

ANY_WRITE = WriteGrant()  # a key without write restrictions

# Stripe's window: a key is answered as before for at least this long, whatever happens to its event.
IDEMPOTENCY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class NewEvent:
    """What a create asks for. A CloudEvent's `source` and `id` are its idempotency key (the CloudEvents spec says
    they identify an event); otherwise the caller's `Idempotency-Key`, if any."""

    source: str
    event_type: str
    payload: dict
    idempotency_key: str | None = None
    ttl_seconds: int | None = None  # None: the stage's retention
    time: str | None = None
    subject: str | None = None
    cloudevents_id: str | None = None

    def key(self) -> str | None:
        """The idempotency key. A CloudEvent's is `source` and `id` behind a NUL, which neither an Idempotency-Key
        (visible ASCII) nor a source (its pattern) holds: the two kinds never meet, and no two CloudEvents share one."""
        if self.cloudevents_id is not None:
            return f"\0cloudevents\0{self.source}\0{self.cloudevents_id}"
        return self.idempotency_key

    def request_hash(self) -> str:
        """What a retry under the same key must repeat. Without the fields added in 1.2.0 it is the hash of
        (source, event_type, payload), as before, so records written earlier still answer retries."""
        request: list = [self.source, self.event_type, self.payload]
        extras = {"ttl_seconds": self.ttl_seconds, "time": self.time, "subject": self.subject}
        if any(value is not None for value in extras.values()):
            request.append({name: value for name, value in extras.items() if value is not None})
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


def _reused(request: NewEvent) -> IdempotencyKeyReused:
    if request.cloudevents_id is not None:
        return IdempotencyKeyReused("A CloudEvent with this source and id was sent before with other content.")
    return IdempotencyKeyReused("This Idempotency-Key was used with a different request body.")


@dataclass(frozen=True)
class Created:
    event_id: str
    created_at: str
    replayed: bool = False  # the key's first request had stored it: nothing new was written


def utc_now() -> datetime:
    return datetime.now(UTC)


class EventService:
    def __init__(
        self,
        store: "EventStore",
        cursors: CursorSigner,
        retention_days: int,
        clock: Callable[[], datetime] = utc_now,
        pool: Executor | None = None,
    ):
        self.store = store
        self.cursors = cursors
        self.list_cursors = cursors.scoped("events")  # never valid on the inbox, nor the inbox's here
        self.retention = timedelta(days=retention_days)
        self.clock = clock
        self.pool = pool  # a batch's creates go out together; without a pool, one after another

    def create_event(
        self, tenant_id: str, source: str, event_type: str, payload: dict, idempotency_key: str | None = None
    ) -> tuple[str, str]:
        """Store a pending event under a new id; its (event_id, created_at). `create` says more."""
        created = self.create(tenant_id, NewEvent(source, event_type, payload, idempotency_key))
        return created.event_id, created.created_at

    def create_many(
        self, tenant_id: str, requests: list[NewEvent], grant: WriteGrant = ANY_WRITE
    ) -> list[Created | DomainError]:
        """Each request's outcome, in order: an event is stored whole or not at all, and one's failure undoes no
        other. The creates go out together (the pool's width at a time). A request whose key an earlier one of the
        batch holds is answered from that one's outcome, without a write: the same content gets its answer (200 for
        a stored event, else the same problem), other content is 422 (one key, two events)."""
        leaders: dict[str, int] = {}  # key → the index of its first request
        writes = []
        for index, request in enumerate(requests):
            key = request.key()
            if key is None or key not in leaders:
                writes.append(index)
                if key is not None:
                    leaders[key] = index

        def create(index: int) -> Created | DomainError:
            try:
                return self.create(tenant_id, requests[index], grant)
            except DomainError as error:
                return error

        written = dict(zip(writes, self.pool.map(create, writes) if self.pool else map(create, writes), strict=True))
        outcomes: list[Created | DomainError] = []
        for index, request in enumerate(requests):
            if index in written:
                outcomes.append(written[index])
                continue
            leader = leaders[request.key()]  # type: ignore[index]
            first = written[leader]
            if request.request_hash() != requests[leader].request_hash():
                outcomes.append(_reused(request))
            else:
                outcomes.append(replace(first, replayed=True) if isinstance(first, Created) else first)
        return outcomes

    def create(self, tenant_id: str, request: NewEvent, grant: WriteGrant = ANY_WRITE) -> Created:
        """Store a pending event under a new id.

        With an idempotency key, the event and a record of the key are written in one transaction that fails if the
        key has a live record: a retry gets the first answer back (`replayed`) and nothing new is stored. A key
        whose `grant` does not cover the source or event type writes nothing."""
        refusal = grant.refusal(request.source, request.event_type)
        if refusal is not None:
            raise EventNotAllowed(refusal)
        now = self.clock()
        retention = self.retention
        if request.ttl_seconds is not None:
            if request.ttl_seconds > retention.total_seconds():
                raise RetentionTooLong(
                    f"ttl_seconds is at most {int(retention.total_seconds())} on this stage "
                    f"({retention.days} days), not {request.ttl_seconds}."
                )
            retention = timedelta(seconds=request.ttl_seconds)
        event = Event(
            tenant_id=tenant_id,
            event_id=str(uuid.uuid4()),
            source=request.source,
            event_type=request.event_type,
            payload=request.payload,
            status=PENDING,
            created_at=format_time(now),
            expires_at=int((now + retention).timestamp()),
            time=request.time,
            subject=request.subject,
            cloudevents_id=request.cloudevents_id,
        )
        # The body's limit does not bound the stored size: the payload is stored as JSON written anew, where a
        # number is written in full.
        size = self.store.item_size(event)
        if size > self.store.ITEM_LIMIT_BYTES:
            raise EventTooLarge(
                f"The event would take {size} bytes as stored, over the limit of {self.store.ITEM_LIMIT_BYTES}; "
                "numbers in the payload are stored in full (1e15 as 1000000000000000.0)."
            )
        idempotency_key = request.key()
        if idempotency_key is None:
            self.store.insert(event)
            return Created(event.event_id, event.created_at)
        record = IdempotencyRecord(
            event_id=event.event_id,
            created_at=event.created_at,
            request_hash=request.request_hash(),
            expires_at=max(event.expires_at, int((now + IDEMPOTENCY_WINDOW).timestamp())),
        )
        original = self.store.insert_once(event, record, idempotency_key, now=int(now.timestamp()))
        if original is None or original.event_id == event.event_id:
            # (The record names this very event when botocore retried a write that had succeeded: it is new.)
            return Created(event.event_id, event.created_at)
        if original.request_hash != record.request_hash:
            raise _reused(request)
        return Created(original.event_id, original.created_at, replayed=True)

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

    def in_window(
        self, tenant_id: str, window: tuple[str, str], limit: int, start: "Position | None"
    ) -> tuple[list[Event], "Position | None"]:
        """A page of the tenant's live events created in `window` (its first and last moment as `created_at` text,
        both included), oldest first, and where it ended (None: the end): the store's position, for a background
        job to go on from, never a client's cursor."""
        now = int(self.clock().timestamp())
        return self.store.window_page(tenant_id, window[0], window[1], limit, start, now)

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
