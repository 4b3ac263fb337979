"""GET /v1/events: every event of the tenant, pending or acknowledged, newest first; full pages whatever the filters;
deleted and expired events absent; cursors bound to the tenant and to this listing."""

import pytest

from tests.support import assert_problem, expire, new_event


def create(call, key, count=1, **overrides) -> list[str]:
    ids = []
    for _ in range(count):
        response = call("POST", "/v1/events", key=key, body=new_event(**overrides))
        assert response.status == 201
        ids.append(response.json["event_id"])
    return ids


def page(call, key, **query) -> dict:
    response = call("GET", "/v1/events", key=key, query={name: str(value) for name, value in query.items()})
    assert response.status == 200
    return response.json


def read_all(call, key, **query) -> list[list[str]]:
    """Follow cursors to the null one; the event ids of each page."""
    pages, cursor = [], None
    while True:
        body = page(call, key, **query, **({"cursor": cursor} if cursor else {}))
        pages.append([event["event_id"] for event in body["events"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def flat(pages: list[list[str]]) -> list[str]:
    return [event_id for ids in pages for event_id in ids]


def test_events_are_listed_newest_first_whatever_their_state(call, make_api_key):
    key, _ = make_api_key()
    created = create(call, key, 5)
    for event_id in created[1:4:2]:
        assert call("POST", f"/v1/events/{event_id}/ack", key=key).status == 200
    body = page(call, key)
    assert [event["event_id"] for event in body["events"]] == created[::-1]
    assert [event["status"] for event in body["events"]] == [
        "pending",
        "acknowledged",
        "pending",
        "acknowledged",
        "pending",
    ]
    assert body["events"][1]["acknowledged_at"] is not None
    assert body["next_cursor"] is None


def test_an_empty_listing_is_one_page_with_a_null_cursor(call, make_api_key):
    key, _ = make_api_key()
    response = call("GET", "/v1/events", key=key)
    assert response.status == 200
    assert response.json["events"] == [] and response.json["next_cursor"] is None
    assert response.json["request_id"] == response.headers["x-request-id"]


def test_paging_lists_every_event_exactly_once_and_ends_with_a_null_cursor(call, make_api_key):
    key, _ = make_api_key()
    created = create(call, key, 7)
    assert call("POST", f"/v1/events/{created[2]}/ack", key=key).status == 200
    pages = read_all(call, key, limit=3)
    assert flat(pages) == created[::-1]
    assert_full_pages(pages, 3)


def test_listed_events_have_the_public_shape(call, make_api_key):
    key, _ = make_api_key()
    create(call, key, payload={"a": 1})
    (event,) = page(call, key)["events"]
    assert event.keys() == {
        "event_id",
        "source",
        "event_type",
        "payload",
        "status",
        "created_at",
        "acknowledged_at",
        "expires_at",
    }
    assert event["payload"] == {"a": 1}


def assert_full_pages(pages: list[list[str]], limit: int) -> None:
    """Every page holds `limit` events but the last with any, which holds the rest (an empty one may follow)."""
    sizes = [len(ids) for ids in pages]
    total = sum(sizes)
    full, rest = divmod(total, limit)
    assert sizes[: full + bool(rest)] == [limit] * full + ([rest] if rest else [])
    assert not any(sizes[full + bool(rest) :])


@pytest.mark.parametrize(
    "query",
    [{"source": "orders"}, {"event_type": "order.placed"}, {"source": "orders", "event_type": "order.placed"}],
    ids=["source", "event_type", "both"],
)
def test_filters_give_full_pages_among_many_other_events(call, make_api_key, query):
    """Events of every combination of two sources and two types, interleaved: a filtered listing is exactly the
    matching events, newest first, in full pages."""
    key, _ = make_api_key()
    combinations = [
        {"source": source, "event_type": event_type}
        for source in ("orders", "billing")
        for event_type in ("order.placed", "invoice.paid")
    ]
    created = []
    for _ in range(7):
        for combination in combinations:
            created += [(event_id, combination) for event_id in create(call, key, **combination)]
    matching = [
        event_id
        for event_id, combination in reversed(created)
        if all(combination[name] == value for name, value in query.items())
    ]
    assert len(matching) == 7 * 4 // 2 ** len(query)
    pages = read_all(call, key, limit=3, **query)
    assert flat(pages) == matching
    assert_full_pages(pages, 3)


def test_a_filtered_page_is_full_when_the_matching_events_are_few_and_far_between(call, make_api_key):
    key, _ = make_api_key()
    matching = []
    for _ in range(4):
        create(call, key, 10, source="noise")
        matching += create(call, key, source="rare")
    body = page(call, key, source="rare", limit=4)
    assert [event["event_id"] for event in body["events"]] == matching[::-1]


def test_a_deleted_event_is_not_listed(call, make_api_key):
    key, _ = make_api_key()
    first, second, third = create(call, key, 3)
    assert call("DELETE", f"/v1/events/{second}", key=key).status == 200
    assert flat(read_all(call, key)) == [third, first]
    assert flat(read_all(call, key, source="billing", event_type="invoice.paid")) == [third, first]


def test_an_expired_event_is_not_listed(call, make_api_key, dynamodb_client, settings):
    key, tenant = make_api_key()
    first, second, third = create(call, key, 3)
    assert call("POST", f"/v1/events/{third}/ack", key=key).status == 200
    expire(dynamodb_client, settings.events_table, tenant, second)
    expire(dynamodb_client, settings.events_table, tenant, third)
    assert flat(read_all(call, key)) == [first]
    assert flat(read_all(call, key, limit=1, source="billing")) == [first]


def test_pages_of_large_events_stay_under_a_megabyte_and_list_them_all(call, make_api_key):
    """Twelve events of 200 kB, in pages of at most 1 MiB of payloads (a Lambda answers at most 6 MB). The exact
    cut: tests/integration/test_storage.py (moto's Query stops at 1 MB of whole items even on a keys-only index)."""
    key, _ = make_api_key()
    created = create(call, key, 12, payload={"blob": "x" * 200_000})
    pages, cursor = [], None
    while True:
        body = page(call, key, limit=12, **({"cursor": cursor} if cursor else {}))
        assert sum(len(event["payload"]["blob"]) for event in body["events"]) <= 1024 * 1024
        pages.append([event["event_id"] for event in body["events"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert flat(pages) == created[::-1]
    assert len(pages) > 2


def test_another_tenants_events_never_appear_and_its_cursor_is_refused(call, make_api_key):
    key, _ = make_api_key()
    stranger, _ = make_api_key()
    mine = create(call, key, 3)
    create(call, stranger, 3)
    assert flat(read_all(call, key)) == mine[::-1]
    assert flat(read_all(call, key, source="billing", event_type="invoice.paid")) == mine[::-1]
    cursor = page(call, stranger, limit=1)["next_cursor"]
    assert cursor is not None
    assert_problem(call("GET", "/v1/events", key=key, query={"cursor": cursor}), 400, "/problems/invalid-cursor")


def test_inbox_and_listing_cursors_are_not_interchangeable(call, make_api_key):
    key, _ = make_api_key()
    create(call, key, 3)
    inbox_cursor = call("GET", "/v1/inbox", key=key, query={"limit": "1"}).json["next_cursor"]
    listing_cursor = page(call, key, limit=1)["next_cursor"]
    assert inbox_cursor is not None and listing_cursor is not None
    assert_problem(call("GET", "/v1/events", key=key, query={"cursor": inbox_cursor}), 400, "/problems/invalid-cursor")
    assert_problem(call("GET", "/v1/inbox", key=key, query={"cursor": listing_cursor}), 400, "/problems/invalid-cursor")


def test_a_truncated_cursor_is_400(call, make_api_key):
    key, _ = make_api_key()
    create(call, key, 2)
    cursor = page(call, key, limit=1)["next_cursor"]
    assert_problem(call("GET", "/v1/events", key=key, query={"cursor": cursor[:-3]}), 400)
    assert call("GET", "/v1/events", key=key, query={"cursor": cursor}).status == 200


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "x"},
        {"cursor": "forged"},
        {"cursor": "e30.AAAA"},
        {"cursor": "a.b.c"},
        {"source": "a#b"},
        {"event_type": ""},
        {"colour": "red"},
    ],
)
def test_bad_queries_are_400(call, make_api_key, query):
    key, _ = make_api_key()
    assert_problem(call("GET", "/v1/events", key=key, query=query), 400)
