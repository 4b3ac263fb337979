"""Subscriptions: a tenant's consumers, each with its own filter and its own deliveries."""

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from triggers.domain.cursors import CursorSigner
from triggers.domain.errors import SubscriptionLimitReached, SubscriptionNotFound
from triggers.domain.model import Filter, Subscription, format_time

if TYPE_CHECKING:
    from triggers.storage.subscriptions import SubscriptionStore

# The stated limit: the fan-out reads all of a tenant's subscriptions for every event.
MAX_SUBSCRIPTIONS = 100


def filter_of(body: dict | None) -> Filter:
    body = body or {}
    return Filter(tuple(body.get("sources", ())), tuple(body.get("event_types", ())))


class SubscriptionService:
    def __init__(self, store: "SubscriptionStore", cursors: CursorSigner, clock: Callable[[], datetime]):
        self.store = store
        self.cursors = cursors
        self.clock = clock

    def create(self, tenant_id: str, name: str, filter_: Filter, max_deliveries: int) -> Subscription:
        now = format_time(self.clock())
        subscription = Subscription(
            tenant_id=tenant_id,
            subscription_id=str(uuid.uuid4()),
            name=name,
            filter=filter_,
            max_deliveries=max_deliveries,
            paused=False,
            created_at=now,
            updated_at=now,
        )
        if not self.store.insert(subscription, MAX_SUBSCRIPTIONS):
            raise SubscriptionLimitReached(MAX_SUBSCRIPTIONS)
        return subscription

    def get(self, tenant_id: str, subscription_id: str) -> Subscription:
        subscription = self.store.get(tenant_id, subscription_id)
        if subscription is None:
            raise SubscriptionNotFound(subscription_id)
        return subscription

    def page(self, tenant_id: str, limit: int, cursor: str | None) -> tuple[list[Subscription], str | None]:
        start = self.cursors.decode(cursor, tenant_id, length=1)[0] if cursor is not None else None
        subscriptions, end = self.store.page(tenant_id, limit, start)
        return subscriptions, self.cursors.encode((end,), tenant_id) if end else None

    def update(self, tenant_id: str, subscription_id: str, changes: dict) -> Subscription:
        """`changes` holds what the request names: `filter` (a Filter), `max_deliveries`, `paused`."""
        subscription = self.store.update(tenant_id, subscription_id, changes, format_time(self.clock()))
        if subscription is None:
            raise SubscriptionNotFound(subscription_id)
        return subscription

    def delete(self, tenant_id: str, subscription_id: str) -> None:
        self.store.delete(tenant_id, subscription_id)
