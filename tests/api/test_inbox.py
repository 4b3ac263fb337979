"""GET /v1/inbox: oldest first, pages with cursors, filters, acknowledged events gone."""

import pytest

from tests.support import assert_problem, new_event


def create(call, key, count, **overrides):
    return [call("POST", "/v1/events", key=key, body=new_event(**overrides)).json["event_id"] for _ in range(count)]


def read_all(call, key, **query):
    """Follow cursors to the end; returns the event ids and the number of pages."""
    ids, cursor, pages = [], None, 0
    while True:
        params = {name: str(value) for name, value in query.items()}
        if cursor:
            params["cursor"] = cursor
        page = call("GET", "/v1/inbox", key=key, query=params)
        assert page.status == 200
        pages += 1
        ids += [event["event_id"] for event in page.json["events"]]
        cursor = page.json["next_cursor"]
        if cursor is None:
            return ids, pages


def test_inbox_pages_oldest_first_until_a_null_cursor(call, make_api_key):
    key, _ = make_api_key()
    created = create(call, key, 7)
    ids, pages = read_all(call, key, limit=3)
    assert ids == created
    assert pages >= 3


def test_default_page_and_empty_inbox(call, make_api_key):
    key, _ = make_api_key()
    page = call("GET", "/v1/inbox", key=key)
    assert page.status == 200
    assert page.json["events"] == []
    assert page.json["next_cursor"] is None
    assert page.json["request_id"] == page.headers["x-request-id"]


def test_acknowledged_events_leave_the_inbox(call, make_api_key):
    key, _ = make_api_key()
    first, second, third = create(call, key, 3)
    assert call("POST", f"/v1/events/{second}/ack", key=key).status == 200
    assert read_all(call, key)[0] == [first, third]


def test_filters_by_source_and_event_type(call, make_api_key):
    key, _ = make_api_key()
    billing = create(call, key, 2, source="billing", event_type="invoice.paid")
    shipping = create(call, key, 2, source="shipping", event_type="parcel.sent")
    create(call, key, 1, source="billing", event_type="invoice.void")
    assert read_all(call, key, source="shipping")[0] == shipping
    assert read_all(call, key, source="billing", event_type="invoice.paid", limit=1)[0] == billing
    assert read_all(call, key, event_type="parcel.sent")[0] == shipping


def test_inbox_events_have_the_public_shape(call, make_api_key):
    key, _ = make_api_key()
    create(call, key, 1, payload={"a": 1})
    event = call("GET", "/v1/inbox", key=key).json["events"][0]
    assert event["payload"] == {"a": 1}
    assert event["status"] == "pending"
    assert "tenant_id" not in event and "pk" not in event and "inbox_sort" not in event


@pytest.mark.parametrize("limit", ["0", "101", "1000000000", "x", "-1", "1.5"])
def test_bad_limits_are_400(call, make_api_key, limit):
    key, _ = make_api_key()
    assert_problem(call("GET", "/v1/inbox", key=key, query={"limit": limit}), 400)


@pytest.mark.parametrize("cursor", ["forged", "e30.AAAA", "W10", "a.b.c"])
def test_forged_cursors_are_400(call, make_api_key, cursor):
    key, _ = make_api_key()
    assert_problem(call("GET", "/v1/inbox", key=key, query={"cursor": cursor}), 400)


def test_truncated_cursor_is_400(call, make_api_key):
    key, _ = make_api_key()
    create(call, key, 2)
    cursor = call("GET", "/v1/inbox", key=key, query={"limit": "1"}).json["next_cursor"]
    assert_problem(call("GET", "/v1/inbox", key=key, query={"cursor": cursor[:-3]}), 400)
    assert call("GET", "/v1/inbox", key=key, query={"cursor": cursor}).status == 200


def test_unknown_query_parameter_is_400(call, make_api_key):
    key, _ = make_api_key()
    assert_problem(call("GET", "/v1/inbox", key=key, query={"colour": "red"}), 400)
