"""The fan-out: each new event becomes one delivery in every subscription whose filter it matches; a deleted or
expired event takes its deliveries along. Fed by DynamoDB Streams from the events table (serverless.yml, function
`fanout`), a batch at a time, in order per shard. A push subscription's delivery is also handed to the push queue.

Replaying a record changes nothing twice: a delivery is written only if it does not exist (an acknowledged one
keeps its item), and removing what is gone already is a no-op. One event to k subscriptions costs one Query and k
conditional writes, 25 in flight at once: 1 + ceil(k / 25) round trips.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from triggers.domain.model import Delivery, Event
from triggers.domain.push import PushScheduler

if TYPE_CHECKING:
    from triggers.storage.deliveries import DeliveryStore
    from triggers.storage.subscriptions import SubscriptionStore

logger = logging.getLogger(__name__)


class FanOut:
    def __init__(
        self,
        subscriptions: "SubscriptionStore",
        deliveries: "DeliveryStore",
        push: PushScheduler,
        clock: Callable[[], datetime],
    ):
        self.subscriptions = subscriptions
        self.deliveries = deliveries
        self.push = push
        self.clock = clock

    def created(self, event: Event) -> int:
        """Deliver a new event to every subscription that existed when it was created and matches it; how many
        deliveries were new."""
        matching = [
            subscription
            for subscription in self.subscriptions.all_of(event.tenant_id)
            if subscription.created_at <= event.created_at
            and subscription.filter.matches(event.source, event.event_type)
        ]
        deliveries = [Delivery.of(event, subscription.subscription_id) for subscription in matching]
        # Visible from the event's creation: a receive takes the oldest first.
        visible_at = int(datetime.fromisoformat(event.created_at).timestamp() * 1000)
        new = self.deliveries.insert_many(deliveries, visible_at)
        # Every push delivery, not only the new ones: a replayed record may come after a failed send.
        pushed = [(s.subscription_id, event.event_id) for s in matching if s.push is not None]
        if pushed:
            self.push.deliver(event.tenant_id, pushed)
        return new

    def removed(self, tenant_id: str, event_id: str) -> int:
        return self.deliveries.delete_for_event(tenant_id, event_id)
