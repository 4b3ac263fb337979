"""A stateful property test of the whole lifecycle, two tenants, some steps racing on threads.

The model holds what every accepted event must be: pending, acknowledged, deleted or expired. After every step
each tenant's inbox, read to the end with cursors, must be exactly its pending events, oldest first.
"""

import json
import threading

import hypothesis
from hypothesis import HealthCheck
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from tests.support import expire, handler_for, new_event, rest_event, unique

PENDING, ACKNOWLEDGED, DELETED, EXPIRED = "pending", "acknowledged", "deleted", "expired"


class Client:
    """One Lambda container: its own app instance, used by one thread at a time."""

    def __init__(self, settings):
        self.handler = handler_for(settings)

    def send(self, method, path, key, body=None, query=None):
        event = rest_event(method, path, body=body, headers={"X-API-Key": key}, query=query)
        result = self.handler(event, None)
        return int(result["statusCode"]), json.loads(result["body"]) if result["body"] else None


def in_parallel(*calls):
    """Run (client, args) pairs on threads at once; returns their results in order."""
    results = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index, client, args):
        barrier.wait()
        results[index] = client.send(*args)

    threads = [threading.Thread(target=run, args=(i, client, args)) for i, (client, args) in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_lifecycle_state_machine(make_api_key, settings, dynamodb_client):
    clients = [Client(settings), Client(settings)]

    class Lifecycle(RuleBasedStateMachine):
        events = Bundle("events")

        def __init__(self):
            super().__init__()
            # Fresh tenants for every run, so runs cannot see each other's events.
            accounts = [make_api_key(), make_api_key()]
            self.keys = [key for key, _ in accounts]
            self.tenant_ids = [tenant for _, tenant in accounts]
            self.state = {}  # event_id -> (owner index, state)
            self.order = []  # event ids in creation order

        def read_inbox(self, owner, limit=3, client=None):
            ids, cursor = [], None
            while True:
                query = {"limit": str(limit)} | ({"cursor": cursor} if cursor else {})
                status, page = (client or clients[0]).send("GET", "/v1/inbox", self.keys[owner], query=query)
                assert status == 200
                ids += [event["event_id"] for event in page["events"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    return ids

        def pending(self, owner):
            return [e for e in self.order if self.state[e] == (owner, PENDING)]

        @rule(target=events, owner=st.integers(0, 1))
        def create(self, owner):
            status, body = clients[0].send("POST", "/v1/events", self.keys[owner], body=new_event())
            assert status == 201
            self.state[body["event_id"]] = (owner, PENDING)
            self.order.append(body["event_id"])
            return body["event_id"]

        @rule(target=events, owner=st.integers(0, 1), size=st.integers(1, 5), repeat=st.booleans())
        def create_batch(self, owner, size, repeat):
            """A batch of new events, the first one sent twice under one key when `repeat`: each new item is 201
            and stored once; the repeat is 200 with the first one's id. An item answered 503 (moto timing out on a
            busy machine) is sent again, as a client would: its key makes that safe (200 if it had been stored)."""
            items = [new_event(idempotency_key=unique("k")) for _ in range(size)] + [{}] * repeat
            items[size:] = [dict(items[0])] * repeat
            results: list[dict] = [{"status": 503}] * len(items)
            sends = 0
            while again := [n for n, result in enumerate(results) if result["status"] == 503]:
                assert sends < 5
                sends += 1
                status, body = clients[0].send(
                    "POST", "/v1/events/batch", self.keys[owner], body={"events": [items[n] for n in again]}
                )
                assert status == 200
                for n, result in zip(again, body["results"], strict=True):
                    results[n] = result
            statuses = [r["status"] for r in results]
            if sends == 1:  # one send: exact
                assert statuses == [201] * size + [200] * repeat
            assert set(statuses[:size]) <= {200, 201} and statuses[size:] == [200] * repeat
            assert len({r["event_id"] for r in results[:size]}) == size
            assert all(r["event_id"] == results[0]["event_id"] for r in results[size:])
            created = sorted((r["created_at"], r["event_id"]) for r in results[:size])  # the inbox's order
            for _, event_id in created:
                self.state[event_id] = (owner, PENDING)
                self.order.append(event_id)
            return multiple(*(event_id for _, event_id in created))

        @rule(event_id=events, caller=st.integers(0, 1))
        def acknowledge(self, event_id, caller):
            owner, state = self.state[event_id]
            status, _ = clients[1].send("POST", f"/v1/events/{event_id}/ack", self.keys[caller])
            if caller != owner or state in (DELETED, EXPIRED):
                assert status == 404
            elif state == ACKNOWLEDGED:
                assert status == 409
            else:
                assert status == 200
                self.state[event_id] = (owner, ACKNOWLEDGED)

        @rule(event_id=events)
        def racing_acks(self, event_id):
            owner, state = self.state[event_id]
            args = ("POST", f"/v1/events/{event_id}/ack", self.keys[owner])
            statuses = sorted(status for status, _ in in_parallel((clients[0], args), (clients[1], args)))
            if state == PENDING:
                assert statuses == [200, 409]
                self.state[event_id] = (owner, ACKNOWLEDGED)
            else:
                assert statuses == ([409, 409] if state == ACKNOWLEDGED else [404, 404])

        @rule(event_id=events)
        def ack_racing_delete(self, event_id):
            owner, state = self.state[event_id]
            (ack, _), (delete, _) = in_parallel(
                (clients[0], ("POST", f"/v1/events/{event_id}/ack", self.keys[owner])),
                (clients[1], ("DELETE", f"/v1/events/{event_id}", self.keys[owner])),
            )
            assert delete == 200
            # The ack ran before the delete (200, or 409 if already acknowledged) or after it (404).
            if state == PENDING:
                assert ack in (200, 404)
            else:
                assert ack in ((409, 404) if state == ACKNOWLEDGED else (404,))
            self.state[event_id] = (owner, DELETED)

        @rule(event_id=consumes(events), caller=st.integers(0, 1))
        def delete(self, event_id, caller):
            owner, state = self.state[event_id]
            status, body = clients[0].send("DELETE", f"/v1/events/{event_id}", self.keys[caller])
            assert status == 200 and body["deleted"] is True
            if caller == owner:
                self.state[event_id] = (owner, DELETED)

        @rule(event_id=events)
        def expire(self, event_id):
            """Time passes for one event: its TTL is in the past (DynamoDB has not deleted it yet)."""
            owner, state = self.state[event_id]
            if state == DELETED:
                return
            expire(dynamodb_client, settings.events_table, self.tenant_ids[owner], event_id)
            self.state[event_id] = (owner, EXPIRED)

        @rule(event_id=events, caller=st.integers(0, 1))
        def get(self, event_id, caller):
            owner, state = self.state[event_id]
            status, body = clients[0].send("GET", f"/v1/events/{event_id}", self.keys[caller])
            if caller != owner or state in (DELETED, EXPIRED):
                assert status == 404
            else:
                assert status == 200 and body["status"] == state

        @rule(owner=st.integers(0, 1))
        def page_while_acking(self, owner):
            """Paging with cursors while another container acks: no event pending throughout is skipped."""
            pending = self.pending(owner)
            to_ack = pending[::2]
            acker = threading.Thread(
                target=lambda: [clients[1].send("POST", f"/v1/events/{e}/ack", self.keys[owner]) for e in to_ack]
            )
            acker.start()
            seen = self.read_inbox(owner, limit=1, client=clients[0])
            acker.join()
            for event_id in to_ack:
                self.state[event_id] = (owner, ACKNOWLEDGED)
            stayed_pending = [e for e in pending if e not in to_ack]
            assert [e for e in seen if e in stayed_pending] == stayed_pending
            assert set(seen) <= set(pending)

        @invariant()
        def inboxes_hold_exactly_the_pending_events(self):
            for owner in (0, 1):
                assert self.read_inbox(owner) == self.pending(owner)

    run_state_machine_as_test(
        Lifecycle,
        settings=hypothesis.settings(
            max_examples=10,
            stateful_step_count=12,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
