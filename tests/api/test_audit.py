"""The audit trail through the Lambda handler: what is recorded, by whom, for which tenant, and who may read it."""

import dataclasses

import pytest
from botocore.exceptions import ClientError

from tests.support import assert_problem
from triggers.auth.api_keys import hash_key
from triggers.domain.model import AuditEntry
from triggers.storage.audit import AuditStore

SUBSCRIPTION_ACTIONS = ["subscription.create", "subscription.update", "subscription.delete"]


def entries(call, key, **query) -> list[dict]:
    response = call("GET", "/v1/audit", key=key, query=query or None)
    assert response.status == 200, response.body
    return response.json["entries"]


def test_subscription_changes_are_recorded_newest_first_with_the_key_and_request(call, make_api_key):
    key, _ = make_api_key()
    created = call("POST", "/v1/subscriptions", key=key, body={"name": "audited"}, headers={"X-Request-ID": "req-1"})
    subscription_id = created.json["subscription_id"]
    path = f"/v1/subscriptions/{subscription_id}"
    call("PATCH", path, key=key, body={"paused": True})
    call("DELETE", path, key=key)
    call("DELETE", path, key=key)  # nothing to delete: nothing recorded
    recorded = entries(call, key)
    assert [e["action"] for e in recorded] == list(reversed(SUBSCRIPTION_ACTIONS))
    assert {e["target"] for e in recorded} == {subscription_id}
    assert {e["actor"] for e in recorded} == {f"key:{hash_key(key)[:12]}"}
    assert recorded[-1]["request_id"] == "req-1"


def test_redrives_are_recorded(call, make_api_key):
    key, _ = make_api_key()
    subscription_id = call("POST", "/v1/subscriptions", key=key, body={"name": "r"}).json["subscription_id"]
    path = f"/v1/subscriptions/{subscription_id}/redrive"
    assert call("POST", path, key=key, body={"event_ids": [subscription_id]}).status == 200
    assert call("POST", path, key=key, body={"all": True}).status == 202
    assert [e["action"] for e in entries(call, key)][:2] == ["dead_letters.redrive_all", "dead_letters.redrive"]


def test_a_tenant_reads_only_its_own_trail_and_pages_it(call, make_api_key):
    key, _ = make_api_key()
    stranger, _ = make_api_key()
    for number in range(3):
        call("POST", "/v1/subscriptions", key=key, body={"name": f"s{number}"})
    assert entries(call, stranger) == []
    first = call("GET", "/v1/audit", key=key, query={"limit": "2"}).json
    assert len(first["entries"]) == 2 and first["next_cursor"]
    rest = call("GET", "/v1/audit", key=key, query={"limit": "2", "cursor": first["next_cursor"]}).json
    assert len(rest["entries"]) == 1 and rest["next_cursor"] is None
    foreign = call("GET", "/v1/audit", key=stranger, query={"cursor": first["next_cursor"]})
    assert_problem(foreign, 400)


def test_reading_the_trail_needs_its_own_scope(call, make_api_key):
    key, _ = make_api_key(scopes=("subscriptions:manage",))
    assert_problem(call("GET", "/v1/audit", key=key), 403, "/problems/missing-scope")


def test_an_entry_cannot_be_overwritten_through_the_store(settings, dynamodb_client, make_api_key, call):
    """The store writes with attribute_not_exists: the same entry twice is refused, the first one kept."""
    store = AuditStore(dynamodb_client, settings.audit_table)
    entry = AuditEntry("tenant-audit-overwrite", "00000000-0000-4000-8000-000000000001", "2026-11-30T00:00:00.000000Z",
                       "system", "subscription.create", "x")  # fmt: skip
    store.add(entry)
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        store.add(dataclasses.replace(entry, action="subscription.delete"))
    [kept] = store.page("tenant-audit-overwrite", 10, None)[0]
    assert kept.action == "subscription.create"
