"""Key lookups are cached per container: zero DynamoDB calls for a known key within the cache time, and none for a
key found unknown within UNKNOWN_KEY_CACHE_SECONDS."""

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.support import assert_problem, client_for, handler_for, invoke, stage_settings
from triggers.auth.api_keys import Authenticator, generate_key, hash_key
from triggers.auth.cache import TtlCache
from triggers.auth.rate_limits import RateLimits
from triggers.domain.events import utc_now
from triggers.storage.api_keys import SCOPES, ApiKeyRecord, ApiKeyStore
from triggers.storage.rate_limits import RateLimitCounter


class Calls:
    """The DynamoDB operations a client sends, by name (botocore's retries happen below the hook)."""

    def __init__(self, client):
        self.names: list[str] = []
        client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model, **_):
        self.names.append(model.name)

    def take(self) -> list[str]:
        names, self.names = self.names, []
        return names


def test_cached_key_costs_no_dynamodb_call(moto_endpoint, dynamodb_client, make_api_key):
    settings = stage_settings(moto_endpoint, API_KEY_CACHE_SECONDS="60")
    client = client_for(settings)
    handler = handler_for(settings, client)
    key, _ = make_api_key()
    calls = Calls(client)
    invoke(handler, "GET", "/v1/inbox", key=key)
    # key lookup, its last use (once a minute), the key's rate-limit lease, its tenant's, the page
    assert calls.take() == ["GetItem", "UpdateItem", "UpdateItem", "UpdateItem", "Query"]
    invoke(handler, "GET", "/v1/inbox", key=key)
    assert calls.take() == ["UpdateItem", "UpdateItem", "Query"]  # key cached; both leases of 1 spent: next of 2
    invoke(handler, "GET", "/v1/inbox", key=key)
    assert calls.take() == ["Query"]  # key cached, leases not spent


def test_a_repeated_unknown_key_costs_no_dynamodb_call(moto_endpoint, dynamodb_client):
    settings = stage_settings(
        moto_endpoint, UNKNOWN_KEY_CACHE_SECONDS="60", API_KEY_CACHE_SECONDS="0", RATE_LIMIT_PER_ADDRESS_PER_MINUTE="0"
    )
    client = client_for(settings)
    handler = handler_for(settings, client)
    calls = Calls(client)
    bogus = generate_key()
    assert_problem(invoke(handler, "GET", "/v1/inbox", key=bogus), 401, "/problems/unauthorized")
    assert calls.take() == ["GetItem"]
    for _ in range(3):
        assert_problem(invoke(handler, "GET", "/v1/inbox", key=bogus), 401, "/problems/unauthorized")
    assert calls.take() == []
    assert_problem(invoke(handler, "GET", "/v1/inbox", key=""), 401)  # an empty key is looked up nowhere
    assert_problem(invoke(handler, "GET", "/v1/inbox"), 401)  # nor is a missing one
    assert calls.take() == []


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_created_after_it_was_found_unknown_works_within_the_unknown_key_ttl(settings, dynamodb_client):
    """The price of the negative cache: a key a container found unknown stays refused there until the entry expires
    (UNKNOWN_KEY_CACHE_SECONDS at worst), even once it exists; a revocation is seen at once."""
    store = ApiKeyStore(dynamodb_client, settings.keys_table)
    clock = Clock()
    limits = RateLimits(RateLimitCounter(dynamodb_client, settings.rate_limits_table), 0, 0, 0)
    authenticator = Authenticator(store, limits, 0, utc_now, unknown_cache_seconds=60, cache_clock=clock)
    key = generate_key()
    assert authenticator.authenticate(key) is None
    assert store.insert(ApiKeyRecord(hash_key(key), "tenant-late", "late", True, "2026-11-22T00:00:00.000000Z"))
    clock.now += 59.9
    assert authenticator.authenticate(key) is None  # still remembered as unknown
    clock.now += 0.2
    assert authenticator.authenticate(key) == {
        "sub": "tenant-late",
        "key_id": hash_key(key)[:12],
        "scopes": tuple(sorted(SCOPES)),  # as the store reads them back
        "sources": (),
        "event_types": (),
    }
    assert store.deactivate(hash_key(key))
    assert authenticator.authenticate(key) is None  # API_KEY_CACHE_SECONDS=0: no positive cache


def test_the_caches_keep_the_newest_entries_within_their_size():
    clock = Clock()
    cache = TtlCache[int](seconds=10, size=3, clock=clock)
    for n in range(5):
        cache.put(f"k{n}", n)
    assert len(cache) == 3
    assert [cache.get(f"k{n}") for n in range(5)] == [None, None, 2, 3, 4]  # the oldest went first
    cache.put("k2", 20)  # a new entry for a key is the newest again
    cache.put("k5", 5)
    assert [cache.get(k) for k in ("k2", "k3", "k4", "k5")] == [20, None, 4, 5]
    clock.now += 10
    assert cache.get("k5") is None and len(cache) == 2  # expired entries are dropped when read
    assert len(TtlCache[int](seconds=0, size=3)) == 0


def test_unknown_and_valid_keys_from_eight_threads_at_once(moto_endpoint, dynamodb_client, make_api_key):
    """A threaded host: one handler, its caches read and written from eight threads; every answer is right."""
    settings = stage_settings(moto_endpoint, API_KEY_CACHE_SECONDS="60", UNKNOWN_KEY_CACHE_SECONDS="60")
    handler = handler_for(settings, client_for(settings))
    valid = [make_api_key()[0] for _ in range(4)]
    bogus = [generate_key() for _ in range(4)]
    start = threading.Barrier(8)

    def client(n: int) -> list[tuple[int, int]]:
        start.wait()
        keys = [(valid[(n + i) % 4], 200) if i % 2 else (bogus[(n + i) % 4], 401) for i in range(10)]
        return [(invoke(handler, "GET", "/v1/inbox", key=key).status, expected) for key, expected in keys]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [answer for batch in pool.map(client, range(8)) for answer in batch]
    assert all(status == expected for status, expected in answers)
    assert len(answers) == 80
