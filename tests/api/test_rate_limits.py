"""Per-key limits shared by all containers: 429 with Retry-After and RateLimit-* once a window is spent, never
more than the limit, and never refused early because capacity sits in containers that went quiet."""

import random
import time

import pytest

from tests.support import assert_problem, handler_for, invoke, stage_settings
from triggers.auth.rate_limits import WINDOW_SECONDS, RateLimiter, largest_lease, stranding_bound
from triggers.domain.errors import RateLimited, StorageUnavailable
from triggers.storage.rate_limits import RateLimitCounter


def a_fresh_window() -> None:
    """Wait, if need be, until at least 5 s of the current window remain, so a short test stays in one window."""
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < 5:
        time.sleep(left + 0.1)


@pytest.fixture
def containers(settings, dynamodb_client):
    """containers(n, limit): n rate limiters on one shared counter, as n Lambda containers hold them, all in one
    fixed window (the clock is theirs, not the machine's)."""
    counter = RateLimitCounter(dynamodb_client, settings.rate_limits_table)
    window_start = float(random.randrange(10**6, 10**7) * WINDOW_SECONDS)  # a window no other test uses

    def make(n: int, limit: int) -> list[RateLimiter]:
        return [RateLimiter(counter, limit, clock=lambda: window_start + 30) for _ in range(n)]

    return make


def admitted(limiter: RateLimiter, key_hash: str) -> bool:
    try:
        limiter.admit(key_hash)
    except RateLimited:
        return False
    return True


def test_limit_is_enforced_with_headers(moto_endpoint, dynamodb_client, make_api_key):
    handler = handler_for(stage_settings(moto_endpoint, RATE_LIMIT_PER_MINUTE="5"), dynamodb_client)
    key, _ = make_api_key()
    a_fresh_window()
    remaining = []
    for _ in range(5):
        response = invoke(handler, "GET", "/v1/inbox", key=key)
        assert response.status == 200
        assert response.headers["ratelimit-limit"] == "5"
        remaining.append(int(response.headers["ratelimit-remaining"]))
        assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
    assert remaining == [4, 3, 2, 1, 0]
    refused = invoke(handler, "GET", "/v1/inbox", key=key)
    assert_problem(refused, 429, "/problems/rate-limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"
    other_key, _ = make_api_key()
    assert invoke(handler, "GET", "/v1/inbox", key=other_key).status == 200  # limits are per key


def test_limit_holds_across_containers(containers):
    """Eight containers share one counter: exactly `limit` requests get through, however they interleave."""
    limiters = containers(8, limit=100)
    results = [admitted(limiters[i % 8], "key-across") for i in range(240)]
    assert results.count(True) == 100


def test_a_burst_over_200_containers_is_not_refused_early(containers):
    """Lambda scales out under a burst: 250 fresh containers each serve a few requests and go quiet, then the
    traffic goes on in a few busy ones. No request is refused before `limit - bound` were admitted, and never more
    than `limit` are."""
    limit = 1000
    limiters = containers(250, limit)
    rng = random.Random(7)
    outcomes = []
    for limiter in limiters[:245]:
        outcomes += [admitted(limiter, "key-burst") for _ in range(rng.randint(1, 4))]
    busy = limiters[245:]
    while len(outcomes) < 2 * limit:
        outcomes.append(admitted(rng.choice(busy), "key-burst"))
    first_refusal = outcomes.index(False)
    assert first_refusal >= limit - stranding_bound(limit)
    assert outcomes.count(True) <= limit


def test_reservations_are_amortised(containers, dynamodb_client):
    """Steady traffic on one container costs about one DynamoDB call per `largest_lease` requests."""
    (limiter,) = containers(1, limit=1000)
    calls = []

    def count(model, **_):
        calls.append(model.name)

    dynamodb_client.meta.events.register("before-call.dynamodb", count)
    try:
        assert all(admitted(limiter, "key-steady") for _ in range(1000))
    finally:
        dynamodb_client.meta.events.unregister("before-call.dynamodb", count)
    # Leases of 1, 2, 4, 8 and 16 (5 calls), 48 of 20 (limit / 50), then a 20 refused by the limit and the last 9.
    assert largest_lease(1000) == 20
    assert calls.count("UpdateItem") == 5 + 48 + 2


def test_a_spent_window_costs_no_more_calls(containers, dynamodb_client):
    (limiter,) = containers(1, limit=3)
    assert [admitted(limiter, "key-spent") for _ in range(4)] == [True, True, True, False]
    calls = []

    def count(model, **_):
        calls.append(model.name)

    dynamodb_client.meta.events.register("before-call.dynamodb", count)
    try:
        assert not any(admitted(limiter, "key-spent") for _ in range(10))
    finally:
        dynamodb_client.meta.events.unregister("before-call.dynamodb", count)
    assert calls == []


class UnreachableCounter(RateLimitCounter):
    def __init__(self):
        pass

    def reserve(self, *_args, **_kwargs):
        raise StorageUnavailable("ThrottlingException")


def test_unreachable_counter_admits_the_request():
    limiter = RateLimiter(UnreachableCounter(), limit=5)
    assert all(admitted(limiter, "key-unreachable") for _ in range(10))
