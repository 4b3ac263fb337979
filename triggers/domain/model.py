"""The event, as the domain sees it."""

from dataclasses import dataclass
from datetime import UTC, datetime

PENDING = "pending"
ACKNOWLEDGED = "acknowledged"


def format_time(moment: datetime) -> str:
    """UTC, microseconds, `Z`: sorts as text in time order (the inbox index relies on it)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Event:
    tenant_id: str
    event_id: str
    source: str
    event_type: str
    payload: dict
    status: str
    created_at: str
    expires_at: int  # epoch seconds: DynamoDB's TTL attribute
    acknowledged_at: str | None = None
    # From a CloudEvent: when it happened and what about (RFC 3339 text and a string, as sent), and its `id`.
    time: str | None = None
    subject: str | None = None
    cloudevents_id: str | None = None

    def public(self) -> dict:
        """The fields a client may see: no tenant, no hashes, no table keys; `time` and `subject` when set."""
        public = {
            "event_id": self.event_id,
            "source": self.source,
            "event_type": self.event_type,
            "payload": self.payload,
            "status": self.status,
            "created_at": self.created_at,
            "acknowledged_at": self.acknowledged_at,
            "expires_at": format_time(datetime.fromtimestamp(self.expires_at, UTC)),
        }
        if self.time is not None:
            public["time"] = self.time
        if self.subject is not None:
            public["subject"] = self.subject
        return public


@dataclass(frozen=True)
class IdempotencyRecord:
    """What a create with an Idempotency-Key answered, kept apart from the event so that it outlives a delete."""

    event_id: str
    created_at: str
    request_hash: str  # of the request that created the event: a retry must match it
    expires_at: int  # epoch seconds: DynamoDB's TTL attribute


@dataclass(frozen=True)
class Filter:
    """Exact values and prefixes ending in `*`; an empty list matches every value."""

    sources: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()

    def matches(self, source: str, event_type: str) -> bool:
        return _any_match(self.sources, source) and _any_match(self.event_types, event_type)

    def public(self) -> dict:
        return {"sources": list(self.sources), "event_types": list(self.event_types)}


def _any_match(patterns: tuple[str, ...], value: str) -> bool:
    return not patterns or any(
        value.startswith(pattern[:-1]) if pattern.endswith("*") else value == pattern for pattern in patterns
    )


@dataclass(frozen=True)
class SigningSecret:
    """A push subscription's `whsec_` secret; one that was rotated out signs until `expires_at` (epoch ms)."""

    secret: str
    expires_at: int | None = None


# What a push subscription POSTs: the event's JSON (the shape of GET /v1/events/{id}), or the event as a structured
# CloudEvent (triggers/domain/cloudevents.py).
JSON_FORMAT = "json"
CLOUDEVENTS_FORMAT = "cloudevents"


@dataclass(frozen=True)
class PushTarget:
    url: str
    secrets: tuple[SigningSecret, ...]  # the newest first
    format: str = JSON_FORMAT

    def live_secrets(self, now_ms: int) -> list[str]:
        return [s.secret for s in self.secrets if s.expires_at is None or s.expires_at > now_ms]


@dataclass(frozen=True)
class Subscription:
    tenant_id: str
    subscription_id: str
    name: str
    filter: Filter
    max_deliveries: int
    paused: bool
    created_at: str
    updated_at: str
    push: PushTarget | None = None  # None: consumers pull
    paused_reason: str | None = None  # why the service paused it (a receiver answered 410), if it did

    def public(self) -> dict:
        return {
            "subscription_id": self.subscription_id,
            "name": self.name,
            "filter": self.filter.public(),
            "delivery": {"mode": "push", "url": self.push.url, "format": self.push.format}
            if self.push
            else {"mode": "pull"},
            "max_deliveries": self.max_deliveries,
            "paused": self.paused,
            "paused_reason": self.paused_reason,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class Delivery:
    """One event in one subscription. `visible_at` (epoch milliseconds) is set while it can be received or is
    leased; `lease` names the current lease; `died_at` is set once it is dead."""

    tenant_id: str
    subscription_id: str
    event_id: str
    delivery_count: int
    visible_at: int | None = None
    lease: str | None = None
    died_at: str | None = None
    acknowledged_at: str | None = None
    expires_at: int = 0  # epoch seconds, the event's: DynamoDB's TTL attribute
    event: dict | None = None  # the event as created (its public fields), copied in by the fan-out
    cloudevents_id: str | None = None  # the event's CloudEvents `id`, if it came as a CloudEvent (not public)
    replayed_by: str | None = None  # the last replay job that delivered it again, if any

    @classmethod
    def of(cls, event: Event, subscription_id: str) -> "Delivery":
        """A new delivery of an event in a subscription, not yet received."""
        return cls(
            tenant_id=event.tenant_id,
            subscription_id=subscription_id,
            event_id=event.event_id,
            delivery_count=0,
            expires_at=event.expires_at,
            event=event.public(),
            cloudevents_id=event.cloudevents_id,
        )


@dataclass(frozen=True)
class Attempt:
    """One push of a delivery to its subscription's URL, as the attempts list shows it."""

    subscription_id: str
    event_id: str
    webhook_id: str
    attempted_at: str
    outcome: str  # delivered | failed | gone | dead
    duration_ms: int
    delivery_count: int
    status_code: int | None = None
    error: str | None = None  # why no status code: timeout, connection_error, address_not_allowed, ...
    next_attempt_at: str | None = None

    def public(self) -> dict:
        return {
            "event_id": self.event_id,
            "webhook_id": self.webhook_id,
            "attempted_at": self.attempted_at,
            "outcome": self.outcome,
            "status_code": self.status_code,
            "error": self.error,
            "duration_ms": self.duration_ms,
            "delivery_count": self.delivery_count,
            "next_attempt_at": self.next_attempt_at,
        }


@dataclass(frozen=True)
class Job:
    tenant_id: str
    job_id: str
    kind: str
    state: str
    subscription_id: str
    processed: int
    errors: tuple[str, ...]
    created_at: str
    updated_at: str
    step: int = 0  # how many pages the worker has finished: a replayed message for an earlier step changes nothing
    # A replay's: the creation times (format_time) of the first and last moment it covers, and how many of the
    # window's events it has read so far (`processed`: how many of them it delivered again).
    window: tuple[str, str] | None = None
    examined: int = 0

    def public(self) -> dict:
        public = {
            "job_id": self.job_id,
            "kind": self.kind,
            "state": self.state,
            "subscription_id": self.subscription_id,
            "processed": self.processed,
            "errors": list(self.errors),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if self.window is not None:
            public["window"] = {"from": self.window[0], "to": self.window[1]}
            public["examined"] = self.examined
        return public


@dataclass(frozen=True)
class AuditEntry:
    """Who (a key id, or who ran the key tool) did what to which thing of a tenant, when, in which request."""

    tenant_id: str
    audit_id: str
    at: str
    actor: str
    action: str  # e.g. subscription.create, key.revoke
    target: str  # the id of what was acted on
    request_id: str | None = None

    def public(self) -> dict:
        return {
            "audit_id": self.audit_id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "request_id": self.request_id,
        }


@dataclass(frozen=True)
class WriteGrant:
    """What an API key may write: `source` values and `event_type` prefixes; an empty list allows any."""

    sources: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()

    def refusal(self, source: str, event_type: str) -> str | None:
        """Why this key may not write such an event, or None if it may."""
        if self.sources and source not in self.sources:
            return f"This API key may write the sources {', '.join(self.sources)} only, not {source!r}."
        if self.event_types and not any(event_type.startswith(prefix) for prefix in self.event_types):
            return (
                f"This API key may write event types starting {', '.join(self.event_types)} only, not {event_type!r}."
            )
        return None
