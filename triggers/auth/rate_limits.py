"""Per-key request limits per one-minute window, shared by every Lambda container of the stage.

A container does not ask DynamoDB for every request: it reserves a lease of requests from the key's counter for
the current window (one conditional UpdateItem) and serves the lease from memory. Every admitted request comes out
of a lease the counter granted, so no key ever gets more than its limit in a window, across all containers.

Leases start at 1 and double each time a container uses one up, to at most limit / 50 (0.05 DynamoDB calls per
request for a busy container at the default 1,000 a minute). Capacity leased to a container that then goes quiet
is lost for the window, so the counter also keeps `outstanding`: the part of every container's current lease not
yet served when it was granted (a container reserves again only once its lease is spent, so its earlier leases
are served in full). A lease that would take `outstanding` past the bound is cut to what fits, down to 1 (the
request at hand, never stranded). So:

    a key is never refused before it has been served `limit - max(1, limit // 20)` requests in the window
    (950 of 1,000 at the default), however many containers served it.

The price: while the bound is reached, each further container works with leases of 1 (one call per request)
until the busy containers spend theirs; a handful of busy containers share the bound (with 20 at the default, two
or three of them hold full leases at once).

A window that refused a reservation is remembered as spent, so an over-limit client costs no DynamoDB call.
If the counter cannot be reached, requests are admitted (and a warning logged): a rate limit protects the
service, and must not take it down with DynamoDB. RateLimit-Remaining is this container's view: what the counter
had left at its last reservation plus what remains of its own lease.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from triggers.domain.errors import RateLimited, StorageUnavailable
from triggers.storage.rate_limits import RateLimitCounter

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


def largest_lease(limit: int) -> int:
    return max(1, limit // 50)


def stranding_bound(limit: int) -> int:
    """How many requests of a window may sit in leases of quiet containers: at most this many are refused early."""
    return max(1, limit // 20)


@dataclass
class Lease:
    window: int
    granted: int = 0  # requests this container reserved in the window
    served: int = 0
    size: int = 1  # of the last reservation
    counter: int = 0  # the shared counter's `used` at our last reservation
    spent: bool = False  # the counter refused us: nothing is left in this window


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset_seconds: int


class RateLimiter:
    """One per container: the leases it holds, per key."""

    def __init__(self, counter: RateLimitCounter, limit: int, clock: Callable[[], float] = time.time):
        self.counter = counter
        self.limit = limit
        self.clock = clock
        self.leases: dict[str, Lease] = {}
        self.lock = threading.Lock()  # a threaded host: two requests must not serve the same slot of a lease

    def admit(self, key_hash: str) -> Quota | None:
        """Count one request of this key; its quota, or None when limits are off. Raises RateLimited when spent."""
        if self.limit <= 0:
            return None
        with self.lock:
            return self._admit(key_hash)

    def _admit(self, key_hash: str) -> Quota:
        now = self.clock()
        window = int(now // WINDOW_SECONDS)
        reset_seconds = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
        lease = self.leases.get(key_hash)
        if lease is None or lease.window != window:
            if len(self.leases) >= 4096:
                self.leases.clear()  # bounded memory under a flood of keys; a lease lost costs one call
            lease = self.leases[key_hash] = Lease(window)
        if lease.served >= lease.granted and not self._reserve(lease, key_hash):
            raise RateLimited(limit=self.limit, reset_seconds=reset_seconds)
        lease.served += 1
        remaining = max(0, self.limit - lease.counter) + (lease.granted - lease.served)
        return Quota(limit=self.limit, remaining=remaining, reset_seconds=reset_seconds)

    def _reserve(self, lease: Lease, key_hash: str) -> bool:
        """Reserve the next lease (the request at hand is its first use); False if the window is spent."""
        if lease.spent:
            return False
        bucket = f"{key_hash}#{lease.window}"
        expires_at = (lease.window + 2) * WINDOW_SECONDS
        bound = stranding_bound(self.limit)
        size = min(2 * lease.size if lease.granted else 1, largest_lease(self.limit), bound + 1)
        try:
            for _ in range(3):  # a cut lease can lose to another container's reservation; three tries, then 429
                counter = self.counter.reserve(bucket, size, self.limit, size - lease.size, bound, expires_at)
                if counter.reserved:
                    break
                lease.counter = counter.used
                if counter.used >= self.limit:
                    lease.spent = True
                    return False
                # Cut to what both the limit and the bound leave, down to the request at hand.
                size = max(1, min(size, self.limit - counter.used, bound - counter.outstanding + lease.size))
            else:
                return False
        except StorageUnavailable:
            logger.warning("rate-limit counter unreachable: request admitted without counting")
            lease.granted += 1
            return True
        lease.granted += size
        lease.size = size
        lease.counter = counter.used
        return True
