"""Limits shared by all containers, per key, per tenant and per client address (requests without a valid key):
429 with Retry-After and RateLimit-* once a window is spent, never more than the limit, never refused early because
capacity sits in containers that went quiet, and no wait when the counter table cannot answer."""

import json
import random
import time
import uuid

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from tests.support import (
    FakeRawResponse,
    assert_problem,
    client_for,
    counter_client_for,
    handler_for,
    invoke,
    stage_settings,
)
from triggers.auth.rate_limits import (
    FAIL_OPEN_SECONDS,
    WINDOW_SECONDS,
    FailOpen,
    RateLimiter,
    client_bucket,
    largest_lease,
    stranding_bound,
)
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
        self.calls = 0

    def reserve(self, *_args, **_kwargs):
        self.calls += 1
        raise StorageUnavailable("ThrottlingException")


def test_unreachable_counter_admits_the_request():
    limiter = RateLimiter(UnreachableCounter(), limit=5)
    assert all(admitted(limiter, "key-unreachable") for _ in range(10))


def test_after_a_failure_the_counter_is_not_asked_for_a_while():
    """One failed call per container per FAIL_OPEN_SECONDS, not one per request (and not one per limit)."""
    counter, now = UnreachableCounter(), [0.0]
    fail_open = FailOpen(clock=lambda: now[0])
    key, tenant = (RateLimiter(counter, 5, policy=policy, fail_open=fail_open) for policy in ("key", "tenant"))
    assert all(admitted(key, "key-quiet") and admitted(tenant, "tenant-quiet") for _ in range(20))
    assert counter.calls == 1
    now[0] += FAIL_OPEN_SECONDS
    assert admitted(key, "key-quiet") and admitted(tenant, "tenant-quiet")
    assert counter.calls == 2  # asked again, failed again: quiet for another while


def fresh_address() -> str:
    """A client address no other test uses (the counter table lives as long as the test session)."""
    return f"198.{random.randrange(18, 20)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def test_requests_without_a_valid_key_are_limited_per_client_address(moto_endpoint, dynamodb_client, make_api_key):
    handler = handler_for(stage_settings(moto_endpoint, RATE_LIMIT_PER_ADDRESS_PER_MINUTE="3"), dynamodb_client)
    noisy, quiet = fresh_address(), fresh_address()
    valid, _ = make_api_key()
    a_fresh_window()
    assert_problem(invoke(handler, "GET", "/v1/inbox", source_ip=noisy), 401, "/problems/unauthorized")
    assert_problem(invoke(handler, "GET", "/v1/inbox", key="", source_ip=noisy), 401)
    assert_problem(invoke(handler, "GET", "/v1/inbox", key="trg_" + "x" * 43, source_ip=noisy), 401)
    for key in (None, "trg_" + "y" * 43):  # a missing key and an unknown one: the same limit
        refused = invoke(handler, "POST", "/v1/events", key=key, body={}, source_ip=noisy)
        problem = assert_problem(refused, 429, "/problems/rate-limited")
        assert problem["title"] == "Too Many Requests"
        assert problem["detail"] == (
            "Too many requests without a valid API key from this address; retry after Retry-After."
        )
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["ratelimit-limit"] == "3" and refused.headers["ratelimit-remaining"] == "0"
    # The address is the one API Gateway saw: X-Forwarded-For is the client's to write.
    spoofed = {"X-Forwarded-For": f"{quiet}, 130.176.1.24"}
    assert_problem(invoke(handler, "GET", "/v1/inbox", headers=spoofed, source_ip=noisy), 429)
    # Another address is not limited by this one; a valid key never counts against, nor is refused by, its address.
    assert_problem(invoke(handler, "GET", "/v1/inbox", source_ip=quiet), 401)
    for _ in range(3):
        assert invoke(handler, "GET", "/v1/inbox", key=valid, source_ip=noisy).status == 200
    # A container that never saw the address learns of the spent window from the counter, in one call.
    other_container = handler_for(stage_settings(moto_endpoint, RATE_LIMIT_PER_ADDRESS_PER_MINUTE="3"))
    assert_problem(invoke(other_container, "GET", "/v1/inbox", source_ip=noisy), 429)


def test_an_ipv6_client_is_limited_per_64_network(moto_endpoint, dynamodb_client):
    handler = handler_for(stage_settings(moto_endpoint, RATE_LIMIT_PER_ADDRESS_PER_MINUTE="2"), dynamodb_client)
    network = f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    a_fresh_window()
    for host in ("::1", ":1:2:3:4"):
        assert_problem(invoke(handler, "GET", "/v1/inbox", source_ip=f"{network}{host}"), 401)
    assert_problem(invoke(handler, "GET", "/v1/inbox", source_ip=f"{network}:ffff:ffff:ffff:ffff"), 429)
    assert client_bucket("2001:db8:a:b:1:2:3:4") == client_bucket("2001:DB8:A:B::") == "2001:db8:a:b::/64"
    assert client_bucket("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_bucket("192.0.2.1") == "192.0.2.1"


def test_the_keys_of_one_tenant_share_the_tenant_limit(moto_endpoint, dynamodb_client, make_api_key):
    """Each request counts against its key's limit and its tenant's; the answers carry the quota nearer its end,
    and the 429 says which limit refused."""
    settings = stage_settings(moto_endpoint, RATE_LIMIT_PER_MINUTE="5", RATE_LIMIT_PER_TENANT_PER_MINUTE="6")
    handler = handler_for(settings, dynamodb_client)
    first, tenant = make_api_key()
    second, _ = make_api_key(tenant)
    stranger, _ = make_api_key()
    a_fresh_window()

    def remaining(key: str) -> str:
        response = invoke(handler, "GET", "/v1/inbox", key=key)
        assert response.status == 200
        return response.headers["ratelimit-remaining"]

    # The first key's own quota is nearer its end, then the tenant's.
    assert [remaining(first) for _ in range(4)] == ["4", "3", "2", "1"]
    assert [remaining(second) for _ in range(2)] == ["1", "0"]
    for key in (second, first):  # each within its own limit of 5: the tenant's refuses
        refused = invoke(handler, "GET", "/v1/inbox", key=key)
        problem = assert_problem(refused, 429, "/problems/rate-limited")
        assert problem["detail"] == (
            "The API keys of this tenant together have made too many requests; retry after Retry-After."
        )
        assert refused.headers["ratelimit-limit"] == "6"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert invoke(handler, "GET", "/v1/inbox", key=stranger).status == 200  # another tenant is not limited
    # A key's own limit says so.
    for _ in range(5):
        invoke(handler, "GET", "/v1/inbox", key=stranger)
    problem = assert_problem(invoke(handler, "GET", "/v1/inbox", key=stranger), 429)
    assert problem["detail"] == "This API key has made too many requests; retry after Retry-After."


def test_a_throttled_counter_fails_open_with_one_call(moto_endpoint, make_api_key):
    """The counter's client is its own (one send, no retry): a throttled counter table costs a request one quick
    call, and the container's next requests none, instead of botocore's retries with their backoff."""
    settings = stage_settings(moto_endpoint, RATE_LIMIT_PER_MINUTE="5")
    counters = counter_client_for(settings)
    handler = handler_for(settings, client_for(settings), counters)
    key, _ = make_api_key()
    sent = []

    def throttled(request, **_):
        sent.append(request.url)
        body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate"})
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        return AWSResponse(request.url, 400, headers, FakeRawResponse(body.encode()))

    counters.meta.events.register("before-send.dynamodb.UpdateItem", throttled)
    for _ in range(8):  # over the key's limit of 5: not counted while the counter cannot count
        response = invoke(handler, "GET", "/v1/inbox", key=key)
        assert response.status == 200
    assert len(sent) == 1  # the key's lease, sent once; its tenant's and the next requests' not at all
