"""Receiving a subscription's deliveries with leases, settling them, and the dead letters.

A receive is at most three round trips in sequence: the subscription (GetItem), the visible deliveries (one Query
per lane, at once), then the leases and burials (conditional UpdateItems, at once). A lease is a conditional write
on the delivery itself, so a stale index entry or a concurrent receive just loses the condition: no delivery is
ever held by two live leases.
"""

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from triggers.domain.cursors import CursorSigner
from triggers.domain.errors import WrongDeliveryMode
from triggers.domain.model import Delivery, format_time
from triggers.domain.subscriptions import SubscriptionService
from triggers.storage.dynamodb import ConditionFailed

if TYPE_CHECKING:
    from triggers.domain.events import EventService
    from triggers.domain.model import Attempt, Event, Subscription
    from triggers.storage.attempts import AttemptStore
    from triggers.storage.deliveries import DeliveryStore

# Long polling looks again this often; each look is one Query per lane.
POLL_SECONDS = 1.0
# A backlog's counts stop here: counting reads the index, so an unbounded count would be an unbounded request.
BACKLOG_COUNT_LIMIT = 10_000


@dataclass(frozen=True)
class Backlog:
    ready: int
    leased: int
    oldest_ready_ms: int | None
    complete: bool  # false: a count reached BACKLOG_COUNT_LIMIT, there may be more


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def time_of_ms(ms: int) -> str:
    return format_time(datetime.fromtimestamp(ms / 1000, UTC))


def lease_token(delivery: Delivery) -> str:
    return f"{delivery.event_id}.{delivery.lease}"


def _parse_token(token: str) -> tuple[str, str] | None:
    """(event id, lease) of a token this API issued, else None."""
    event_id, dot, lease = token.partition(".")
    return (event_id, lease) if dot and len(event_id) == 36 and lease else None


class DeliveryService:
    def __init__(
        self,
        store: "DeliveryStore",
        attempts: "AttemptStore",
        subscriptions: SubscriptionService,
        events: "EventService",
        cursors: CursorSigner,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.store = store
        self.attempt_log = attempts
        self.subscriptions = subscriptions
        self.events = events
        self.cursors = cursors
        self.clock = clock
        self.sleep = sleep

    def receive(
        self, tenant_id: str, subscription_id: str, max_events: int, visibility_timeout: int, wait_seconds: int
    ) -> list[Delivery]:
        """Lease up to `max_events` deliveries; with `wait_seconds`, look again until some arrive or time is up."""
        subscription = self.subscriptions.get(tenant_id, subscription_id)
        if subscription.push is not None:
            raise WrongDeliveryMode("This subscription pushes its deliveries to its URL; they cannot be received.")
        deadline = time.monotonic() + wait_seconds
        while True:
            leased = [] if subscription.paused else self._receive_once(subscription, max_events, visibility_timeout)
            left = deadline - time.monotonic()
            if leased or left <= 0:
                return leased
            self.sleep(min(POLL_SECONDS, left))

    def _receive_once(self, subscription: "Subscription", max_events: int, visibility_timeout: int) -> list[Delivery]:
        now = self.clock()
        now_ms = _ms(now)
        candidates = self.store.visible(subscription.subscription_id, now_ms, max_events)
        spent = [d for d in candidates if d.delivery_count >= subscription.max_deliveries]
        fresh = [d for d in candidates if d.delivery_count < subscription.max_deliveries]
        if spent:
            self.store.bury_many(spent, now_ms, format_time(now), subscription.max_deliveries)
        leases = [secrets.token_urlsafe(16) for _ in fresh]
        until_ms = now_ms + visibility_timeout * 1000
        leased = self.store.lease_many(fresh, now_ms, leases, until_ms, subscription.max_deliveries)
        return [delivery for delivery in leased if delivery is not None]

    def settle(
        self, tenant_id: str, subscription_id: str, action: str, tokens: list[str], seconds: list[int] | None = None
    ) -> list[str]:
        """`acknowledge`, `release` (after `seconds`) or `extend` (by `seconds`) each lease; each one's outcome in
        request order: `acknowledged | released | extended | lease_lost | not_found`."""
        subscription = self.subscriptions.get(tenant_id, subscription_id)
        now = self.clock()
        now_ms = _ms(now)
        parsed = [_parse_token(token) for token in tokens]
        known = [(index, found) for index, found in enumerate(parsed) if found is not None]
        offsets = seconds or [0] * len(tokens)
        results = self.store.settle_many(
            action,
            [(subscription.tenant_id, subscription.subscription_id, event_id, lease) for _, (event_id, lease) in known],
            now_ms,
            format_time(now),
            [now_ms + offsets[index] * 1000 for index, _ in known],
        )
        done = {"acknowledge": "acknowledged", "release": "released", "extend": "extended"}[action]
        outcomes = ["not_found"] * len(tokens)
        for (index, (_, lease)), result in zip(known, results, strict=True):
            outcomes[index] = done if result is None else _refusal(result, lease)
        return outcomes

    def dead_letters(
        self, tenant_id: str, subscription_id: str, limit: int, cursor: str | None
    ) -> tuple[list[Delivery], str | None]:
        subscription = self.subscriptions.get(tenant_id, subscription_id)
        start = None
        if cursor is not None:
            dead_sort, pk, sk = self.cursors.decode(cursor, tenant_id, length=3)
            start = (dead_sort, pk, sk)
        page, end = self.store.dead_page(subscription.subscription_id, limit, start)
        return page, self.cursors.encode(end, tenant_id) if end else None

    def of_event(self, tenant_id: str, event_id: str) -> list[tuple[Delivery, str]]:
        """Each delivery of the event with its state: `pending | leased | acknowledged | dead`. An event that does not
        exist (never, or no longer: deleted, expired) is EventNotFound, not an empty list."""
        self.events.get_event(tenant_id, event_id)
        now_ms = _ms(self.clock())
        return [(delivery, delivery_state(delivery, now_ms)) for delivery in self.store.for_event(tenant_id, event_id)]

    def backlog(self, tenant_id: str, subscription_id: str) -> Backlog:
        """The subscription's ready and leased deliveries, each counted up to BACKLOG_COUNT_LIMIT."""
        subscription = self.subscriptions.get(tenant_id, subscription_id)
        limit = BACKLOG_COUNT_LIMIT
        ready, leased, oldest_ms = self.store.backlog(subscription.subscription_id, _ms(self.clock()), limit)
        return Backlog(min(ready, limit), min(leased, limit), oldest_ms, complete=max(ready, leased) < limit)

    def redrive(self, tenant_id: str, subscription_id: str, event_ids: list[str]) -> list[str]:
        """Make these dead letters receivable again (an audited change); each one's outcome in request order:
        `redriven | not_found`."""
        outcomes = self.revive(tenant_id, subscription_id, event_ids)
        self.subscriptions.audit.record(tenant_id, "dead_letters.redrive", subscription_id)
        return outcomes

    def revive(self, tenant_id: str, subscription_id: str, event_ids: list[str]) -> list[str]:
        """`redrive`'s work, for a job that was audited when it started."""
        subscription = self.subscriptions.get(tenant_id, subscription_id)
        done = self.store.redrive_many(tenant_id, subscription.subscription_id, event_ids, _ms(self.clock()))
        if subscription.push is not None:
            revived = [(subscription_id, e) for e, ok in zip(event_ids, done, strict=True) if ok]
            self.subscriptions.push.deliver(tenant_id, revived)
        return ["redriven" if redriven else "not_found" for redriven in done]

    def replay(self, tenant_id: str, subscription_id: str, events: list["Event"], job_id: str) -> int:
        """Deliver again, once for the replay `job_id`, each of these events that the subscription's filter
        matches, whatever its delivery's state (acknowledged, dead, waiting, leased, or none yet): receivable now,
        with a count of 0 and no lease, and for a push subscription handed to the push queue as the fan-out hands
        a new one. How many it matched. Done again (a retried job step), it writes nothing twice; what it hands to
        the push queue again is pushed once (a push leases the delivery first)."""
        subscription = self.subscriptions.get(tenant_id, subscription_id)
        deliveries = [
            Delivery.of(event, subscription.subscription_id)
            for event in events
            if subscription.filter.matches(event.source, event.event_type)
        ]
        self.store.replay_many(deliveries, job_id, _ms(self.clock()))
        if subscription.push is not None:
            replayed = [(subscription.subscription_id, delivery.event_id) for delivery in deliveries]
            self.subscriptions.push.deliver(subscription.tenant_id, replayed)
        return len(deliveries)

    def attempts(
        self, tenant_id: str, subscription_id: str, limit: int, cursor: str | None
    ) -> tuple[list["Attempt"], str | None]:
        """A push subscription's recent attempts, newest first (kept a week)."""
        subscription = self.subscriptions.get(tenant_id, subscription_id)
        start = self.cursors.decode(cursor, tenant_id, length=1)[0] if cursor is not None else None
        page, end = self.attempt_log.page(subscription.subscription_id, limit, start)
        return page, self.cursors.encode((end,), tenant_id) if end else None


def delivery_state(delivery: Delivery, now_ms: int) -> str:
    if delivery.died_at is not None:
        return "dead"
    if delivery.acknowledged_at is not None or delivery.visible_at is None:
        return "acknowledged"
    return "leased" if delivery.lease is not None and delivery.visible_at > now_ms else "pending"


def _refusal(refused: ConditionFailed[Delivery], lease: str) -> str:
    """Why a settle did not happen: the delivery is held under another lease (or this one ended), or there is no
    such lease to settle."""
    delivery = refused.existing
    if delivery is None or delivery.visible_at is None:
        return "not_found"  # no such delivery here, or it is acknowledged or dead
    return "lease_lost"
