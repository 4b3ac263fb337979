"""Key lookups are cached per container: zero DynamoDB calls for a known key within the cache time."""

from tests.support import client_for, handler_for, invoke, stage_settings


def test_cached_key_costs_no_dynamodb_call(moto_endpoint, dynamodb_client, make_api_key):
    settings = stage_settings(moto_endpoint, API_KEY_CACHE_SECONDS="60")
    client = client_for(settings)
    handler = handler_for(settings, client)
    key, _ = make_api_key()
    calls = []

    def count(model, **_):
        calls.append(model.name)

    client.meta.events.register("before-call.dynamodb", count)
    invoke(handler, "GET", "/v1/inbox", key=key)
    # key lookup, its last use (once a minute), rate-limit lease, the page
    assert calls == ["GetItem", "UpdateItem", "UpdateItem", "Query"]
    calls.clear()
    invoke(handler, "GET", "/v1/inbox", key=key)
    assert calls == ["UpdateItem", "Query"]  # key cached; the lease of 1 is spent, so the next one (of 2)
    calls.clear()
    invoke(handler, "GET", "/v1/inbox", key=key)
    assert calls == ["Query"]  # key cached, lease not spent
