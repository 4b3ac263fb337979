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
