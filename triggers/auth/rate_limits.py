"""Per-key request limits per one-minute window, shared by every Lambda container of the stage.

A container does not ask DynamoDB for every request: it reserves a lease of requests at a time from the key's
counter for the current window (one conditional UpdateItem), and serves the lease from memory. Every admitted
request comes out of a lease the counter granted, so no key ever gets more than its limit in a window, across
all containers. The cost: one DynamoDB call per `lease size` requests per container (the limit / 50, at least 1:
0.05 calls per request at the default 1,000 a minute). The price of the saving: capacity leased to a container
that then goes quiet is lost for the rest of the window, so a key spread over many containers may see 429 before
it has made `limit` requests (at most `lease size` per other container). RateLimit-Remaining is this container's
view: what the counter had left at its last reservation plus what remains of its own lease.

If the counter cannot be reached, requests are admitted (and a warning logged): a rate limit protects the
service, and must not take it down with DynamoDB.
"""

import logging
import time
from dataclasses import dataclass

from triggers import settings
from triggers.domain.errors import RateLimited, StorageUnavailable
from triggers.storage import rate_limits as store

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


@dataclass
class Lease:
    window: int
    granted: int = 0
    served: int = 0
    counter: int = 0  # the shared counter's value at our last reservation


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset_seconds: int


_leases: dict[str, Lease] = {}


def lease_size(limit: int) -> int:
    return max(1, limit // 50)


def admit(key_hash: str) -> Quota | None:
    """Count one request of this key; its quota, or None when limits are off. Raises RateLimited when spent."""
    limit = settings.current().rate_limit_per_minute
    if limit <= 0:
        return None
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    reset_seconds = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
    lease = _leases.get(key_hash)
    if lease is None or lease.window != window:
        lease = _leases[key_hash] = Lease(window)
    if lease.served >= lease.granted and not _extend(lease, key_hash, limit):
        raise RateLimited(limit=limit, reset_seconds=reset_seconds)
    lease.served += 1
    remaining = max(0, limit - lease.counter) + (lease.granted - lease.served)
    return Quota(limit=limit, remaining=remaining, reset_seconds=reset_seconds)


def _extend(lease: Lease, key_hash: str, limit: int) -> bool:
    """Reserve more of the window's requests; False if none are left."""
    bucket = f"{key_hash}#{lease.window}"
    expires_at = (lease.window + 2) * WINDOW_SECONDS
    amount = min(lease_size(limit), limit)
    try:
        try:
            lease.counter = store.reserve(bucket, amount, limit, expires_at)
        except store.WindowExhausted as exhausted:
            amount = limit - exhausted.used  # what is left, if less than a lease
            if amount <= 0:
                lease.counter = exhausted.used
                return False
            lease.counter = store.reserve(bucket, amount, limit, expires_at)
    except store.WindowExhausted as exhausted:
        lease.counter = exhausted.used
        return False
    except StorageUnavailable:
        logger.warning("rate-limit counter unreachable: request admitted without counting")
        lease.granted += 1
        return True
    lease.granted += amount
    return True


def forget_leases() -> None:
    _leases.clear()
