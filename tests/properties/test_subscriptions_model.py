"""A stateful property test of one subscription's deliveries: leases, acks, nacks, extensions, lease expiry, dead
letters, redrive and replay of a time window, some steps racing on threads.

The subscription and its events are created, dead letters listed and redriven, and windows replayed through the
Lambda handler; the fan-out runs on the events table's real (moto) stream, and background jobs on the jobs function
fed from the jobs queue. Receiving and settling go to `DeliveryService`s built by the composition root
(triggers/services.py) but given the model's clock, so time passes only when a rule says so: leases of 1-5 s end at
`time_passes`, never because the machine was slow. The clock starts an hour ahead of the wall clock, so every event
created during a run (and every delivery a job makes receivable) is visible to it at once.

The model mirrors each delivery as the table must hold it (queued, acknowledged or dead; its count, lease and
visible_at), predicts every settle's outcome, and after every step compares itself with the table. Invariants:
- no delivery is held by two live leases: of all the leases handed out, at most one per delivery has not ended;
- no acknowledged delivery is received again (checked on every receive), unless a replay delivered it again:
  each event is acknowledged at most once more per replay that covered it;
- a replay delivers each event of its window once more whatever its state (acknowledged, dead, waiting, leased),
  and nothing else; a duplicate of its job's message changes nothing; each delivery is in exactly one state and
  names the replay that last delivered it (nothing half-written);
- nothing is lost: every delivery the fan-out made is acknowledged, dead or queued (pending), exactly as the model
  says; and (rule `everything_ends`) receiving and acknowledging until nothing comes leaves each acknowledged or
  dead;
- a received delivery's `delivery_count` never exceeds `max_deliveries`.

Races make outcomes vary from run to run, so which rules may run, and what they draw, depends only on what earlier
rules were (never on what a race gave): a token is picked by an index into the tokens handed out so far (or into
those still their delivery's lease), and a rule with nothing to act on does nothing.
"""

import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis
from hypothesis import HealthCheck
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.support import client_for, handler_for, invoke, new_event, queue_client_for
from triggers.domain.deliveries import DeliveryService, lease_token
from triggers.domain.model import Delivery
from triggers.services import build_services

QUEUED, ACKNOWLEDGED, DEAD = "queued", "acknowledged", "dead"
DONE = {"acknowledge": "acknowledged", "release": "released", "extend": "extended"}
MAX_DELIVERIES = 10  # per run: publishing costs most of a step's time
# Which token a rule acts on: (current, index). With `current`, one of the tokens that are their delivery's lease
# (the lease may have ended), else any token handed out; `index` counts from the newest.
picks = st.tuples(st.booleans(), st.integers(0, 255))
max_events = st.integers(1, 5)
timeouts = st.integers(1, 5)


class Clock:
    """The model's time: whole seconds (so epoch milliseconds are exact), moved on only by rules."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def reset(self) -> None:
        self.now = datetime.fromtimestamp(int(datetime.now(UTC).timestamp()) + 3600, UTC)

    def __call__(self) -> datetime:
        return self.now

    @property
    def ms(self) -> int:
        return int(self.now.timestamp()) * 1000


@dataclass
class Expected:
    """A delivery as the table must hold it. `visible_at` (epoch ms) is when a queued delivery can be received, or
    its lease's end; `lease` stays after the lease ends, until a receive replaces it or a nack, burial or redrive
    removes it."""

    visible_at: int
    state: str = QUEUED
    count: int = 0
    lease: str | None = None
    replayed_by: str | None = None  # the job id of the last replay that delivered it again


def deliveries_with_clock(settings, clock: Clock) -> DeliveryService:
    """The delivery service of one container, built by the composition root, on the model's clock."""
    services = build_services(settings, client_for(settings), queue_client_for(settings))
    deliveries = services.deliveries
    return DeliveryService(
        deliveries.store, deliveries.attempt_log, services.subscriptions, deliveries.events, deliveries.cursors, clock
    )


def at_once(*calls) -> list[Any]:
    """Run the callables on threads at the same moment; their results in order."""
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(calls))

    def run(index, call):
        barrier.wait()
        try:
            results[index] = call()
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def test_subscription_deliveries_state_machine(make_api_key, settings, dynamodb_client, queue_client, stream, run_jobs):
    clock = Clock()
    http = handler_for(settings)
    jobs_queue_url = queue_client.get_queue_url(QueueName=settings.jobs_queue)["QueueUrl"]
    containers = [deliveries_with_clock(settings, clock) for _ in range(3)]

    class Deliveries(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            clock.reset()
            self.key, self.tenant = make_api_key()  # a new tenant for every run
            self.subscription_id = ""
            self.max_deliveries = 0
            self.expected: dict[str, Expected] = {}  # event id → the delivery as the table must hold it
            self.issued: list[str] = []  # every lease token handed out, oldest first
            self.ends: dict[str, int] = {}  # lease token → when that lease ends (ended: when it was settled)
            self.acknowledged: set[str] = set()
            self.created: dict[str, str] = {}  # event id → its created_at
            self.acks: dict[str, int] = {}  # event id → how many acks acknowledged it
            self.replays: dict[str, int] = {}  # event id → how many replays covered it
            self.dead_listed: list[str] = []
            self.receives = 0  # receive rules run so far: what later rules may depend on

        # What the API and the table say

        def send(self, method, path, body=None, query=None):
            response = invoke(http, method, path, key=self.key, body=body, query=query)
            assert response.status < 500, response.body
            return response

        def path(self, suffix=""):
            return f"/v1/subscriptions/{self.subscription_id}{suffix}"

        def table(self) -> dict[str, dict]:
            """Every delivery of this run as the table holds it (strongly consistent reads)."""
            items: dict[str, dict] = {}
            ids = list(self.expected)
            for start in range(0, len(ids), 100):
                keys = [
                    {"pk": {"S": f"{self.tenant}#{event_id}"}, "sk": {"S": self.subscription_id}}
                    for event_id in ids[start : start + 100]
                ]
                request: dict = {settings.deliveries_table: {"Keys": keys, "ConsistentRead": True}}
                while request:
                    response = dynamodb_client.batch_get_item(RequestItems=request)
                    for item in response["Responses"].get(settings.deliveries_table, []):
                        items[item["event_id"]["S"]] = item
                    request = response.get("UnprocessedKeys") or {}
            return items

        def receive_with(self, container: int, most: int, timeout: int) -> list[Delivery]:
            return containers[container].receive(self.tenant, self.subscription_id, most, timeout, 0)

        def settle_with(self, container: int, action: str, tokens: list[str], seconds=None) -> list[str]:
            return containers[container].settle(self.tenant, self.subscription_id, action, tokens, seconds)

        # The model

        def receivable(self) -> list[str]:
            return [e for e, d in self.expected.items() if d.state == QUEUED and d.visible_at <= clock.ms]

        def live(self, event_id: str) -> bool:
            expected = self.expected[event_id]
            return expected.state == QUEUED and expected.lease is not None and expected.visible_at > clock.ms

        def spent(self, event_id: str) -> bool:
            return self.expected[event_id].count >= self.max_deliveries

        def token(self, pick: tuple[bool, int]) -> str | None:
            current, index = pick
            pool = [t for t in self.issued if self.outcome("acknowledge", t) == "acknowledged"] if current else []
            pool = pool or self.issued
            return pool[-1 - index % len(pool)] if pool else None

        def took(self, delivery: Delivery) -> None:
            """A delivery a receive returned: check it against the model, then record its lease."""
            event_id = delivery.event_id
            expected = self.expected[event_id]
            assert event_id not in self.acknowledged, "an acknowledged delivery was received again"
            assert not self.live(event_id), "a delivery held by a live lease was leased again"
            assert expected.state == QUEUED and expected.visible_at <= clock.ms, (delivery, expected)
            assert delivery.delivery_count == expected.count + 1 <= self.max_deliveries, (delivery, expected)
            assert delivery.lease and delivery.visible_at is not None
            expected.count, expected.lease, expected.visible_at = (
                delivery.delivery_count,
                delivery.lease,
                delivery.visible_at,
            )
            token = lease_token(delivery)
            self.issued.append(token)
            self.ends[token] = delivery.visible_at

        def buried(self, looked_at: list[str]) -> list[str]:
            """Of these receivable deliveries, the spent ones a receive moved to the dead letters (the table tells:
            which ones a receive looks at is its choice)."""
            items = self.table()
            buried = []
            for event_id in looked_at:
                if self.spent(event_id) and "dead_sub" in items[event_id]:
                    expected = self.expected[event_id]
                    expected.state, expected.lease, expected.visible_at = DEAD, None, 0
                    buried.append(event_id)
            return buried

        def outcome(self, action: str, token: str) -> str:
            event_id, _, lease = token.partition(".")
            expected = self.expected[event_id]
            if expected.state != QUEUED:
                return "not_found"  # acknowledged or dead
            if expected.lease != lease:
                return "lease_lost"  # another receive took it, or a nack (or a redrive) ended this lease
            if action == "extend" and expected.visible_at <= clock.ms:
                return "lease_lost"  # an ended lease is not revived
            return DONE[action]  # an ended lease nobody replaced may still be acknowledged or released

        def apply(self, token: str, outcome: str, seconds: int = 0) -> None:
            event_id = token.partition(".")[0]
            expected = self.expected[event_id]
            if outcome == "acknowledged":
                expected.state, expected.lease, expected.visible_at = ACKNOWLEDGED, None, 0
                self.acknowledged.add(event_id)
                self.acks[event_id] = self.acks.get(event_id, 0) + 1
                self.ends[token] = min(self.ends[token], clock.ms)
            elif outcome == "released":
                expected.lease, expected.visible_at = None, clock.ms + seconds * 1000
                self.ends[token] = min(self.ends[token], clock.ms)
            elif outcome == "extended":
                expected.visible_at = self.ends[token] = clock.ms + seconds * 1000

        # Rules

        @initialize(max_deliveries=st.integers(1, 3))
        def subscribe(self, max_deliveries):
            response = self.send("POST", "/v1/subscriptions", {"name": "model", "max_deliveries": max_deliveries})
            assert response.status == 201
            self.subscription_id = response.json["subscription_id"]
            self.max_deliveries = max_deliveries

        @precondition(lambda self: len(self.expected) < MAX_DELIVERIES)
        @rule(count=st.integers(1, 3))
        def publish(self, count):
            """Create events, then run the fan-out on what the stream carries: one new delivery each."""
            created = []
            for _ in range(count):
                response = self.send("POST", "/v1/events", new_event())
                assert response.status == 201
                created.append(response.json)
            stream.pump()
            for event in created:
                created_ms = int(datetime.fromisoformat(event["created_at"]).timestamp() * 1000)
                self.expected[event["event_id"]] = Expected(visible_at=created_ms)
                self.created[event["event_id"]] = event["created_at"]

        @precondition(lambda self: self.expected)
        @rule(most=max_events, timeout=timeouts)
        def receive(self, most, timeout):
            """One receive alone takes (or, when spent, buries) the oldest receivable deliveries, as many as asked."""
            self.receives += 1
            receivable = self.receivable()
            visible_at = {e: self.expected[e].visible_at for e in receivable}
            got = self.receive_with(0, most, timeout)
            ids = [d.event_id for d in got]
            assert len(ids) == len(set(ids)) <= most
            for delivery in got:
                self.took(delivery)
            buried = self.buried([e for e in receivable if e not in ids])
            assert len(got) + len(buried) == min(most, len(receivable))
            taken = set(ids) | set(buried)
            left = [visible_at[e] for e in receivable if e not in taken]
            if taken and left:
                assert max(visible_at[e] for e in taken) <= min(left), "a receive passed over older deliveries"

        @precondition(lambda self: self.expected)
        @rule(racing=st.integers(2, 3), most=max_events, timeout=timeouts)
        def racing_receives(self, racing, most, timeout):
            """Concurrent receives (a container each) never lease one delivery twice, and together take or bury at
            least as many as the greediest alone would have."""
            self.receives += 1
            receivable = self.receivable()
            results = at_once(*[lambda c=c: self.receive_with(c, most, timeout) for c in range(racing)])
            ids = [d.event_id for got in results for d in got]
            assert len(ids) == len(set(ids)), "two concurrent receives leased one delivery"
            for got in results:
                for delivery in got:
                    self.took(delivery)
            buried = self.buried([e for e in receivable if e not in ids])
            assert len(ids) + len(buried) >= min(most, len(receivable))

        @precondition(lambda self: self.receives)
        @rule(pick=picks)
        def ack(self, pick):
            if (token := self.token(pick)) is None:
                return
            expected = self.outcome("acknowledge", token)
            assert self.settle_with(1, "acknowledge", [token]) == [expected]
            self.apply(token, expected)

        @precondition(lambda self: self.receives)
        @rule(chosen=st.lists(picks, min_size=2, max_size=5))
        def ack_many(self, chosen):
            """One request, several deliveries (one token each): every outcome, in request order."""
            tokens = list({t.partition(".")[0]: t for p in chosen if (t := self.token(p))}.values())
            if not tokens:
                return
            expected = [self.outcome("acknowledge", token) for token in tokens]
            assert self.settle_with(1, "acknowledge", tokens) == expected
            for token, outcome in zip(tokens, expected, strict=True):
                self.apply(token, outcome)

        @precondition(lambda self: self.receives)
        @rule(pick=picks, delay=st.integers(0, 3))
        def nack(self, pick, delay):
            if (token := self.token(pick)) is None:
                return
            expected = self.outcome("release", token)
            assert self.settle_with(1, "release", [token], [delay]) == [expected]
            self.apply(token, expected, delay)

        @precondition(lambda self: self.receives)
        @rule(pick=picks, timeout=timeouts)
        def extend(self, pick, timeout):
            if (token := self.token(pick)) is None:
                return
            expected = self.outcome("extend", token)
            assert self.settle_with(1, "extend", [token], [timeout]) == [expected]
            self.apply(token, expected, timeout)

        @precondition(lambda self: self.receives)
        @rule(pick=picks)
        def ack_racing_nack(self, pick):
            """Two containers settle one lease at once: one wins, and the other is told why it lost."""
            if (token := self.token(pick)) is None:
                return
            current = self.outcome("acknowledge", token)
            ack, nack = at_once(
                lambda: self.settle_with(1, "acknowledge", [token])[0],
                lambda: self.settle_with(2, "release", [token], [0])[0],
            )
            if current != "acknowledged":
                assert (ack, nack) == (current, current)
                return
            assert (ack, nack) in {("acknowledged", "not_found"), ("lease_lost", "released")}
            self.apply(token, nack)
            self.apply(token, ack)

        @precondition(lambda self: self.receives)
        @rule(pick=picks, most=max_events, timeout=timeouts)
        def ack_racing_receive(self, pick, most, timeout):
            """An ack racing a receive that may take the delivery again once its lease has ended: either the ack wins
            (acknowledged, and the receive leaves it), or the receive does (a new lease; the old token's ack is
            `lease_lost` and changes nothing), or, for a spent delivery, the receive buries it (`not_found`)."""
            if (token := self.token(pick)) is None:
                return
            self.receives += 1
            event_id = token.partition(".")[0]
            current = self.outcome("acknowledge", token)
            receivable = self.receivable()
            outcome, got = at_once(
                lambda: self.settle_with(1, "acknowledge", [token])[0],
                lambda: self.receive_with(0, most, timeout),
            )
            retaken = event_id in {d.event_id for d in got}
            can_be_retaken = event_id in receivable and not self.spent(event_id)
            can_be_buried = event_id in receivable and self.spent(event_id)
            if outcome == "acknowledged":
                assert current == "acknowledged" and not retaken, "a delivery was acknowledged and leased again"
            elif outcome == "lease_lost":
                assert current == "lease_lost" or (retaken and can_be_retaken), "an ack lost to nobody"
            else:
                assert current == "not_found" or can_be_buried, f"ack {outcome}, expected {current}"
            # The model follows the order the table saw: a receive that took the delivery ran first.
            if not retaken:
                self.apply(token, outcome)
            for delivery in got:
                self.took(delivery)
            self.buried([e for e in receivable if e not in {d.event_id for d in got}])
            if outcome == "not_found" and current != "not_found":
                assert self.expected[event_id].state == DEAD

        @precondition(lambda self: self.receives)
        @rule(seconds=st.sampled_from([1, 2, 3, 6]))
        def time_passes(self, seconds):
            clock.now += timedelta(seconds=seconds)

        @precondition(lambda self: self.receives)
        @rule(chosen=st.lists(st.integers(0, 255), max_size=4), other=st.integers(0, 255))
        def redrive(self, chosen, other):
            """Redrive some dead letters by id, with one delivery that is not dead among them."""
            dead = [e for e, d in self.expected.items() if d.state == DEAD]
            alive = [e for e, d in self.expected.items() if d.state != DEAD]
            ids = list(dict.fromkeys(dead[p % len(dead)] for p in chosen)) if dead else []
            ids += [alive[other % len(alive)]] if alive else []
            if not ids:
                return
            response = self.send("POST", self.path("/redrive"), {"event_ids": ids})
            assert response.status == 200
            outcomes = [result["outcome"] for result in response.json["results"]]
            assert outcomes == ["redriven" if e in dead else "not_found" for e in ids]
            self.redriven([e for e in ids if e in dead])

        @precondition(lambda self: self.receives)
        @rule()
        def redrive_all(self):
            """Redrive every dead letter with a background job, run by the jobs function."""
            dead = [e for e, d in self.expected.items() if d.state == DEAD]
            if not dead:
                return
            response = self.send("POST", self.path("/redrive"), {"all": True})
            assert response.status == 202
            run_jobs()
            job = self.send("GET", f"/v1/jobs/{response.json['job_id']}").json
            assert (job["state"], job["processed"], job["errors"]) == ("succeeded", len(dead), [])
            self.redriven(dead)

        def redriven(self, event_ids: list[str]) -> None:
            items = self.table()
            for event_id in event_ids:
                expected = self.expected[event_id]
                expected.state, expected.count, expected.lease = QUEUED, 0, None
                # Visible from the wall clock's now, which is before the model's.
                expected.visible_at = int(items[event_id]["visible_at"]["N"])
                assert expected.visible_at <= clock.ms

        @precondition(lambda self: self.expected)
        @rule(first=st.integers(0, 255), span=st.integers(0, 255), to_now=st.booleans())
        def replay(self, first, span, to_now):
            """Replay a window of the events (from one's creation to another's, or to now) with a background job run
            to its end; then hand the jobs function a duplicate of its first message."""
            order = sorted(self.expected, key=lambda event_id: self.created[event_id])
            start = first % len(order)
            end = len(order) - 1 if to_now else min(start + span % len(order), len(order) - 1)
            window = {"from": self.created[order[start]]} | ({} if to_now else {"to": self.created[order[end]]})
            response = self.send("POST", self.path("/replay"), window)
            assert response.status == 202, response.body
            job_id = response.json["job_id"]
            run_jobs()
            replayed = order[start : end + 1]
            job = self.send("GET", f"/v1/jobs/{job_id}").json
            assert (job["state"], job["examined"], job["processed"], job["errors"]) == (
                "succeeded",
                len(replayed),
                len(replayed),
                [],
            )
            items = self.table()
            for event_id in replayed:
                expected = self.expected[event_id]
                if expected.lease is not None:  # the replay ended it
                    token = f"{event_id}.{expected.lease}"
                    self.ends[token] = min(self.ends[token], clock.ms)
                expected.state, expected.count, expected.lease, expected.replayed_by = QUEUED, 0, None, job_id
                # Visible from the wall clock's now, which is before the model's.
                expected.visible_at = int(items[event_id]["visible_at"]["N"])
                assert expected.visible_at <= clock.ms
                self.acknowledged.discard(event_id)
                self.replays[event_id] = self.replays.get(event_id, 0) + 1
            duplicate = {"tenant_id": self.tenant, "job_id": job_id, "step": 0, "cursor": None}
            queue_client.send_message(QueueUrl=jobs_queue_url, MessageBody=json.dumps(duplicate))
            run_jobs()  # the invariants compare the table with the model: nothing changed

        # Invariants

        @invariant()
        def acknowledged_at_most_once_more_per_replay(self):
            assert all(acks <= 1 + self.replays.get(e, 0) for e, acks in self.acks.items()), (self.acks, self.replays)

        @invariant()
        def one_live_lease_at_most(self):
            live: dict[str, list[str]] = {}
            for token, ends in self.ends.items():
                if ends > clock.ms:
                    live.setdefault(token.partition(".")[0], []).append(token)
            assert all(len(tokens) == 1 for tokens in live.values()), live

        @invariant()
        def the_table_holds_what_the_model_says(self):
            items = self.table()
            assert set(items) == set(self.expected), "a delivery was lost"
            for event_id, expected in self.expected.items():
                item = items[event_id]
                shape = [name for name in ("lane", "acknowledged_at", "dead_sub") if name in item]
                assert len(shape) == 1, f"{event_id} is in {len(shape)} states: {item}"
                state = {"lane": QUEUED, "acknowledged_at": ACKNOWLEDGED, "dead_sub": DEAD}[shape[0]]
                assert state == expected.state, (event_id, item, expected)
                assert int(item["delivery_count"]["N"]) == expected.count <= self.max_deliveries, (item, expected)
                assert item.get("replayed_by", {}).get("S") == expected.replayed_by, (item, expected)
                if state == QUEUED:
                    assert int(item["visible_at"]["N"]) == expected.visible_at, (item, expected)
                    assert item.get("lease", {}).get("S") == expected.lease, (item, expected)
                else:
                    assert "visible_at" not in item and "lease" not in item, item

        @invariant()
        def dead_letters_are_the_dead_deliveries(self):
            """Listed (whenever they changed) a page of two at a time: oldest death first."""
            dead = sorted(e for e, d in self.expected.items() if d.state == DEAD)
            if dead == self.dead_listed:
                return
            listed, cursor = [], None
            while True:
                query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
                response = self.send("GET", self.path("/dead-letters"), query=query)
                assert response.status == 200
                listed += response.json["dead_letters"]
                cursor = response.json["next_cursor"]
                if cursor is None:
                    break
            assert sorted(d["event_id"] for d in listed) == dead
            assert all(d["delivery_count"] == self.max_deliveries for d in listed)
            order = [(d["died_at"], d["event_id"]) for d in listed]
            assert order == sorted(order)
            self.dead_listed = dead

        @precondition(lambda self: self.receives)
        @rule()
        def everything_ends(self):
            """Nothing is stuck: once every lease has ended, receiving and acknowledging until nothing comes leaves
            every delivery acknowledged or dead."""
            clock.now += timedelta(hours=1)
            while receivable := self.receivable():
                got = self.receive_with(0, 100, 30)
                for delivery in got:
                    self.took(delivery)
                buried = self.buried([e for e in receivable if e not in {d.event_id for d in got}])
                assert got or buried, f"{len(receivable)} deliveries are receivable but a receive takes none"
                tokens = [lease_token(delivery) for delivery in got]
                if tokens:
                    assert self.settle_with(1, "acknowledge", tokens) == ["acknowledged"] * len(tokens)
                for token in tokens:
                    self.apply(token, "acknowledged")
            assert all(d.state in (ACKNOWLEDGED, DEAD) for d in self.expected.values()), self.expected

    # Some thousand requests: at the test stage's DEBUG level, their log lines would cost a third of the run.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    try:
        run_state_machine_as_test(
            Deliveries,
            settings=hypothesis.settings(
                max_examples=15,
                stateful_step_count=20,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        root.setLevel(level)
