"""Per-key limits shared by all containers: 429 with Retry-After and RateLimit-* once a window is spent."""

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor

import awsgi
import pytest

from tests.api.test_events import assert_problem
from tests.conftest import rest_event
from triggers import settings
from triggers.auth import rate_limits
from triggers.http.app import create_app
from triggers.http.wsgi import WsgiAdapter
from triggers.storage import dynamodb


@pytest.fixture
def limit_per_minute(monkeypatch, lambda_handler):
    def set_limit(limit: int):
        limited = dataclasses.replace(settings.current(), rate_limit_per_minute=limit)
        monkeypatch.setattr(settings, "current", lambda: limited)
        rate_limits.forget_leases()

    yield set_limit
    rate_limits.forget_leases()


@pytest.fixture
def frozen_window(monkeypatch):
    """Keep every request of a test in one window, whatever the clock says."""
    monkeypatch.setattr(rate_limits.time, "time", lambda: 1_800_000_000.0 + 30)


def test_limit_is_enforced_with_headers(call, make_api_key, limit_per_minute, frozen_window):
    limit_per_minute(5)
    key, _ = make_api_key()
    remaining = []
    for _ in range(5):
        response = call("GET", "/v1/inbox", key=key)
        assert response.status == 200
        assert response.headers["ratelimit-limit"] == "5"
        remaining.append(int(response.headers["ratelimit-remaining"]))
        assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
    assert remaining == [4, 3, 2, 1, 0]
    refused = call("GET", "/v1/inbox", key=key)
    assert_problem(refused, 429, "/problems/rate-limited")
    assert refused.headers["retry-after"] == "30"
    assert refused.headers["ratelimit-remaining"] == "0"
    other_key, _ = make_api_key()
    assert call("GET", "/v1/inbox", key=other_key).status == 200  # limits are per key


def test_limit_holds_across_containers(make_api_key, limit_per_minute, frozen_window):
    """Eight containers (own app, own leases) share one counter: exactly `limit` requests get through."""
    limit_per_minute(100)  # lease of 2 requests per reservation
    key, _ = make_api_key()
    event = rest_event("GET", "/v1/inbox", headers={"X-API-Key": key})
    apps = [WsgiAdapter(create_app()) for _ in range(8)]

    def container(app):
        statuses = []
        for _ in range(30):
            statuses.append(awsgi.response(app, json.loads(json.dumps(event)), None)["statusCode"])
        return statuses

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [status for result in pool.map(container, apps) for status in result]
    assert statuses.count("200") <= 100
    assert statuses.count("200") >= 100 - 8 * rate_limits.lease_size(100)  # leases left unused in containers
    assert set(statuses) == {"200", "429"}


def test_reservations_are_amortised(call, make_api_key, limit_per_minute, frozen_window):
    limit_per_minute(1000)
    key, _ = make_api_key()
    calls = []
    client = dynamodb.client()

    def count(model, **_):
        calls.append(model.name)

    client.meta.events.register("before-call.dynamodb", count)
    try:
        for _ in range(40):
            call("GET", "/v1/inbox", key=key)
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)
    # 40 requests, leases of 20: two reservations.
    assert calls.count("UpdateItem") == 2


def test_unreachable_counter_admits_the_request(call, make_api_key, limit_per_minute, monkeypatch):
    from triggers.domain.errors import StorageUnavailable
    from triggers.storage import rate_limits as store

    limit_per_minute(5)

    def unavailable(*_args, **_kwargs):
        raise StorageUnavailable("ThrottlingException")

    monkeypatch.setattr(store, "reserve", unavailable)
    key, _ = make_api_key()
    assert call("GET", "/v1/inbox", key=key).status == 200
