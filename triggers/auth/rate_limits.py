"""Request limits per one-minute window, shared by every Lambda container of the stage, under three policies:

- **key**: requests of one API key (RATE_LIMIT_PER_MINUTE);
- **tenant**: requests of all the keys of one tenant together (RATE_LIMIT_PER_TENANT_PER_MINUTE). A valid key's
  request counts against both its key's limit and its tenant's, so five keys of one tenant share one tenant quota
  rather than getting five key quotas. The key's limit is asked first: a key at its limit is refused without
  touching its tenant's count, so one runaway key does not spend its siblings' share with refused requests;
- **address**: requests whose key is missing or unknown, per client address (RATE_LIMIT_PER_ADDRESS_PER_MINUTE;
  an IPv6 address counts as its /64 network). A valid key never counts against it and is never refused by it.

Each policy counts in the rate-limit table under its own items (`<key hash>#<window>`, `tenant#<tenant>#<window>`,
`address#<address>#<window>`), the same way:

A container does not ask DynamoDB for every request: it reserves a lease of requests from the counter for the
current window (one conditional UpdateItem) and serves the lease from memory. Every admitted request comes out of a
lease the counter granted, so no key (tenant, address) ever gets more than its limit in a window, across all
containers.

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
or three of them hold full leases at once). A small limit (the address limit's 60) leases 1 at a time: one call
per counted request until the window is spent.

A window that refused a reservation is remembered as spent, so an over-limit client costs no DynamoDB call.

If the counter cannot be reached (throttled, failing, or silent for RATE_LIMIT_TIMEOUT_SECONDS: its client makes
one send per call and no retry, triggers/storage/dynamodb.py `make_counter_client`), the request is admitted
uncounted and a warning logged, and for the next FAIL_OPEN_SECONDS the container's limiters admit without asking.
A rate limit protects the service, and must not take it down with DynamoDB: a throttled or silent counter table
costs a container one short wait (at most the counter client's timeouts) per FAIL_OPEN_SECONDS, not one per
request nor botocore's retries (about 3.7 s a request when the counter shared the stores' client). What that
costs: requests admitted while the counter is unavailable are not counted, so a key, tenant or address can exceed
its limit then. RateLimit-Remaining is this container's view: what the counter had left at its last reservation
plus what remains of its own lease.
"""

import ipaddress
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from triggers.domain.errors import RateLimited, StorageUnavailable
from triggers.storage.rate_limits import RateLimitCounter

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# After the counter failed, a container's limiters admit without asking it for this long.
FAIL_OPEN_SECONDS = 5.0
# Leases a limiter keeps at most (one per key, tenant or address seen this window); the oldest go first.
_MAX_LEASES = 4096
# Each policy's prefix of its counter items' keys (a key's is its hash alone: 64 hex digits, as before tenants).
POLICIES = {"key": "", "tenant": "tenant#", "address": "address#"}


def largest_lease(limit: int) -> int:
    return max(1, limit // 50)


def stranding_bound(limit: int) -> int:
    """How many requests of a window may sit in leases of quiet containers: at most this many are refused early."""
    return max(1, limit // 20)


def client_bucket(address: str) -> str:
    """What a client address is counted as: an IPv4 address itself; an IPv6 address its /64 network, since one
    subscriber's network hands out as many addresses in it as it likes."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


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


class FailOpen:
    """A container's memory that the counter failed: until `seconds` after, its limiters admit without asking."""

    def __init__(self, seconds: float = FAIL_OPEN_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.until = float("-inf")

    def active(self) -> bool:
        return self.clock() < self.until

    def trip(self) -> None:
        self.until = self.clock() + self.seconds


class RateLimiter:
    """One per container and policy: the leases it holds, per key (tenant, address)."""

    def __init__(
        self,
        counter: RateLimitCounter,
        limit: int,
        clock: Callable[[], float] = time.time,
        policy: str = "key",
        fail_open: FailOpen | None = None,
    ):
        self.counter = counter
        self.limit = limit
        self.clock = clock
        self.policy = policy
        self.prefix = POLICIES[policy]
        self.fail_open = fail_open or FailOpen()
        self.leases: OrderedDict[str, Lease] = OrderedDict()  # oldest first
        self.lock = threading.Lock()  # a threaded host: two requests must not serve the same slot of a lease

    def admit(self, name: str) -> Quota | None:
        """Count one request of `name` (a key's hash, a tenant, an address); its quota, or None when this limit is
        off. Raises RateLimited when spent."""
        if self.limit <= 0:
            return None
        with self.lock:
            return self._admit(name)

    def give_back(self, name: str) -> None:
        """Return the slot the last `admit(name)` served to the lease (the request was refused by another limit)."""
        with self.lock:
            lease = self.leases.get(name)
            if lease is not None and lease.served > 0:
                lease.served -= 1

    def _admit(self, name: str) -> Quota:
        now = self.clock()
        window = int(now // WINDOW_SECONDS)
        reset_seconds = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
        lease = self.leases.get(name)
        if lease is None or lease.window != window:
            self.leases.pop(name, None)
            while len(self.leases) >= _MAX_LEASES:
                self.leases.popitem(last=False)  # bounded memory under a flood; a lease lost costs one call
            lease = self.leases[name] = Lease(window)
        if lease.served >= lease.granted and not self._reserve(lease, name):
            raise RateLimited(limit=self.limit, reset_seconds=reset_seconds, policy=self.policy)
        lease.served += 1
        remaining = max(0, self.limit - lease.counter) + (lease.granted - lease.served)
        return Quota(limit=self.limit, remaining=remaining, reset_seconds=reset_seconds)

    def _reserve(self, lease: Lease, name: str) -> bool:
        """Reserve the next lease (the request at hand is its first use); False if the window is spent."""
        if lease.spent:
            return False
        if self.fail_open.active():
            lease.granted += 1
            return True
        bucket = f"{self.prefix}{name}#{lease.window}"
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
            self.fail_open.trip()
            logger.warning(
                "rate-limit counter unreachable: requests admitted without counting for %s s", self.fail_open.seconds
            )
            lease.granted += 1
            return True
        lease.granted += size
        lease.size = size
        lease.counter = counter.used
        return True


class RateLimits:
    """A container's three limiters (key, tenant, address) on one counter table, failing open together."""

    def __init__(
        self,
        counter: RateLimitCounter,
        per_key: int,
        per_tenant: int,
        per_address: int,
        clock: Callable[[], float] = time.time,
        fail_open: FailOpen | None = None,
    ):
        self.fail_open = fail_open or FailOpen()
        self.key = RateLimiter(counter, per_key, clock, "key", self.fail_open)
        self.tenant = RateLimiter(counter, per_tenant, clock, "tenant", self.fail_open)
        self.address = RateLimiter(counter, per_address, clock, "address", self.fail_open)

    def admit(self, key_hash: str, tenant: str) -> Quota | None:
        """Count a valid key's request against its key's limit, then its tenant's; the quota nearer its end (None when
        both limits are off). RateLimited names the limit that refused; a request its tenant's limit refuses is
        given back to its key's."""
        key_quota = self.key.admit(key_hash)
        try:
            tenant_quota = self.tenant.admit(tenant)
        except RateLimited:
            self.key.give_back(key_hash)
            raise
        quotas = [quota for quota in (key_quota, tenant_quota) if quota is not None]
        return min(quotas, key=lambda quota: quota.remaining) if quotas else None

    def admit_unknown(self, address: str | None) -> None:
        """Count a request whose key is missing or unknown against its client address's limit (an unknown address
        is not counted). Raises RateLimited when spent."""
        if address:
            self.address.admit(client_bucket(address))
