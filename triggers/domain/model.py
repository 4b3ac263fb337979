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

    def public(self) -> dict:
        """The fields a client may see: no tenant, no hashes, no table keys."""
        return {
            "event_id": self.event_id,
            "source": self.source,
            "event_type": self.event_type,
            "payload": self.payload,
            "status": self.status,
            "created_at": self.created_at,
            "acknowledged_at": self.acknowledged_at,
            "expires_at": format_time(datetime.fromtimestamp(self.expires_at, UTC)),
        }


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
class Subscription:
    tenant_id: str
    subscription_id: str
    name: str
    filter: Filter
    max_deliveries: int
    paused: bool
    created_at: str
    updated_at: str

    def public(self) -> dict:
        return {
            "subscription_id": self.subscription_id,
            "name": self.name,
            "filter": self.filter.public(),
            "max_deliveries": self.max_deliveries,
            "paused": self.paused,
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

    def public(self) -> dict:
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "state": self.state,
            "subscription_id": self.subscription_id,
            "processed": self.processed,
            "errors": list(self.errors),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
