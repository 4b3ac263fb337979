"""Key lookups are cached per container: zero DynamoDB calls for a known key within the cache time."""

import dataclasses

from triggers import settings
from triggers.auth import api_keys
from triggers.storage import dynamodb


def test_cached_key_costs_no_dynamodb_call(call, make_api_key, monkeypatch):
    cached = dataclasses.replace(settings.current(), key_cache_seconds=60)
    monkeypatch.setattr(settings, "current", lambda: cached)
    api_keys.forget_cached_keys()
    key, _ = make_api_key()
    calls = []

    def count(model, **_):
        calls.append(model.name)

    client = dynamodb.client()
    client.meta.events.register("before-call.dynamodb", count)
    try:
        call("GET", "/v1/inbox", key=key)
        assert calls == ["GetItem", "UpdateItem", "Query"]  # key lookup, rate-limit lease, the page
        calls.clear()
        call("GET", "/v1/inbox", key=key)
        assert calls == ["Query"]  # key cached, lease not spent
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)
        api_keys.forget_cached_keys()
