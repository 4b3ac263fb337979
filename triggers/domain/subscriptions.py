"""Subscriptions: a tenant's consumers, each with its own filter and its own deliveries."""

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from triggers.domain.audit import AuditTrail
from triggers.domain.cursors import CursorSigner
from triggers.domain.errors import SubscriptionLimitReached, SubscriptionNotFound, WrongDeliveryMode
from triggers.domain.model import JSON_FORMAT, Filter, PushTarget, SigningSecret, Subscription, format_time
from triggers.domain.push import PushScheduler, check_target, new_secret
from triggers.storage.dynamodb import ConditionFailed

if TYPE_CHECKING:
    from triggers.storage.subscriptions import SubscriptionStore

# The stated limit: the fan-out reads all of a tenant's subscriptions for every event.
MAX_SUBSCRIPTIONS = 100
# A rotated-out signing secret keeps signing this long, so receivers can switch without losing a delivery.
SECRET_OVERLAP_MS = 24 * 3600 * 1000


def filter_of(body: dict | None) -> Filter:
    body = body or {}
    return Filter(tuple(body.get("sources", ())), tuple(body.get("event_types", ())))


class SubscriptionService:
    def __init__(
        self,
        store: "SubscriptionStore",
        cursors: CursorSigner,
        clock: Callable[[], datetime],
        push: PushScheduler,
        allow_private_targets: bool,
        audit: AuditTrail,
    ):
        self.store = store
        self.cursors = cursors
        self.clock = clock
        self.push = push
        self.allow_private_targets = allow_private_targets
        self.audit = audit

    def create(
        self,
        tenant_id: str,
        name: str,
        filter_: Filter,
        max_deliveries: int,
        push_url: str | None = None,
        push_format: str = JSON_FORMAT,
    ) -> Subscription:
        """A new subscription; with `push_url`, its deliveries are pushed there in `push_format`, signed with a new
        secret."""
        if push_url is not None:
            check_target(push_url, self.allow_private_targets)
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
            push=PushTarget(push_url, (SigningSecret(new_secret()),), push_format) if push_url is not None else None,
        )
        if not self.store.insert(subscription, MAX_SUBSCRIPTIONS):
            raise SubscriptionLimitReached(MAX_SUBSCRIPTIONS)
        self.audit.record(tenant_id, "subscription.create", subscription.subscription_id)
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
        """`changes` holds what the request names: `filter` (a Filter), `max_deliveries`, `paused`, `format` (a
        push subscription's only). Resuming clears why the service paused it and, for a push subscription, pushes
        what waited meanwhile."""
        if changes.get("paused") is False:
            changes = {**changes, "paused_reason": None}
        now = self.clock()
        subscription = self.store.update(tenant_id, subscription_id, changes, format_time(now))
        if isinstance(subscription, ConditionFailed):
            if subscription.existing is None:
                raise SubscriptionNotFound(subscription_id)
            raise WrongDeliveryMode("This subscription is pulled; only a push subscription has a format.")
        self.audit.record(tenant_id, "subscription.update", subscription_id)
        if changes.get("paused") is False and subscription.push is not None:
            self.push.sweep(subscription, int(now.timestamp() * 1000))
        return subscription

    def rotate_secret(self, tenant_id: str, subscription_id: str) -> tuple[Subscription, int]:
        """A new signing secret for a push subscription; the current one signs too until the returned time (epoch
        ms). Two rotations at once: one wins, the other tries again on what it left."""
        while True:
            subscription = self.get(tenant_id, subscription_id)
            if subscription.push is None:
                raise WrongDeliveryMode("This subscription is pulled; only a push subscription has a secret.")
            now_ms = int(self.clock().timestamp() * 1000)
            overlap_until = now_ms + SECRET_OVERLAP_MS
            current = subscription.push.secrets[0]
            secrets = (SigningSecret(new_secret()), SigningSecret(current.secret, overlap_until))
            updated = self.store.update(
                tenant_id,
                subscription_id,
                {"secrets": secrets},
                format_time(self.clock()),
                secrets_were=subscription.push.secrets,
            )
            if not isinstance(updated, ConditionFailed):
                self.audit.record(tenant_id, "subscription.rotate_secret", subscription_id)
                return updated, overlap_until
            if updated.existing is None:
                raise SubscriptionNotFound(subscription_id)

    def delete(self, tenant_id: str, subscription_id: str) -> None:
        if self.store.delete(tenant_id, subscription_id):
            self.audit.record(tenant_id, "subscription.delete", subscription_id)
