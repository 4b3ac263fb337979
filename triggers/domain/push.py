"""Push delivery: each delivery of a push subscription is POSTed to its URL, signed as Standard Webhooks says, and
retried on a schedule until the receiver answers 2xx or the delivery has been tried `max_deliveries` times. The body
is the subscription's `format`: the event's JSON, or the event as a structured CloudEvent; the signature covers
the body as sent, whichever it is.

The deliveries table stays the truth (the same items, leases and dead letters as pull subscriptions); the push
queue (serverless.yml, PushQueue and the `deliver` function) only says "look at this delivery now". A message is
acted on only if the delivery can be leased, so a duplicate, late or replayed message changes nothing twice. A
retry is a new message sent with a delay (at most SQS's 15 minutes; a longer wait is crossed in hops): unlike a
changed visibility timeout, this works the same on AWS and under serverless-offline-sqs, which deletes every
message of a batch its function returned from.

A paused subscription's messages are dropped; resuming it sends a sweep, which walks the subscription's waiting
deliveries a page at a time and sends a message for each (each page hands the rest on through the queue).
"""

import base64
import ipaddress
import json
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from triggers.domain import cloudevents
from triggers.domain.errors import InvalidPushTarget
from triggers.domain.model import CLOUDEVENTS_FORMAT, Attempt, Delivery, Subscription, format_time
from triggers.storage.dynamodb import ConditionFailed
from triggers.storage.queues import MAX_DELAY_SECONDS

if TYPE_CHECKING:
    from triggers.storage.attempts import AttemptStore
    from triggers.storage.deliveries import DeliveryStore
    from triggers.storage.queues import MessageQueue
    from triggers.storage.subscriptions import SubscriptionStore

logger = logging.getLogger(__name__)

# Seconds to wait after the n-th failed attempt (n = 1, 2, ...); past the end, the last. Stated in openapi.yaml.
RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
# A push holds its delivery this long: the send's 10 s timeout and the writes around it, with room to spare.
LEASE_SECONDS = 60
# Deliveries a sweep step sends per lane.
SWEEP_PAGE = 100
# Why a subscription was paused by the service rather than by its owner.
RECEIVER_GONE = "receiver_gone"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_id(subscription_id: str, event_id: str, replay: str | None = None) -> str:
    """Stable per event and subscription, so a receiver can drop a retry it has handled. A replay's push is a new
    message (the receiver asked for it again), so it has an id of its own, stable across that replay's tries."""
    return "msg_" + uuid.uuid5(uuid.UUID(subscription_id), event_id if replay is None else f"{event_id}#{replay}").hex


def address_allowed(address: str) -> bool:
    """A public unicast address: not private, loopback, link-local (the instance metadata address), shared,
    reserved or multicast, and not an IPv4 address in IPv6 clothing that is one of those."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_target(url: str, allow_private: bool) -> None:
    """What a subscription's URL must be. Deployed stages take only https to a host that is not a non-public
    address; the name's addresses are checked again at every send (DNS can change: rebinding)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError as exc:
        raise InvalidPushTarget("The URL cannot be parsed.") from exc
    if allow_private:
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidPushTarget("The URL must be http or https, with a host.")
        return
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidPushTarget("The URL must be https, with a host.")
    if parts.hostname == "localhost" or parts.hostname.endswith(".localhost"):
        raise InvalidPushTarget("The URL's host must be reachable from the internet.")
    try:
        allowed = address_allowed(parts.hostname)
    except ValueError:
        return  # a name: checked when it is resolved
    if not allowed:
        raise InvalidPushTarget("The URL's host must be a public address.")


@dataclass(frozen=True)
class SendResult:
    duration_ms: int
    status_code: int | None = None
    error: str | None = None  # timeout | connection_error | address_not_allowed | invalid_url


class Sender(Protocol):
    def post(self, url: str, headers: dict[str, str], body: bytes) -> SendResult: ...


class PushScheduler:
    """Says which deliveries to push, and when."""

    def __init__(self, queue: "MessageQueue"):
        self.queue = queue

    def deliver(self, tenant_id: str, deliveries: list[tuple[str, str]], delay_seconds: int = 0) -> None:
        """Push each (subscription id, event id) after `delay_seconds` (at most 900)."""
        self.queue.send_many(
            [{"tenant_id": tenant_id, "subscription_id": s, "event_id": e} for s, e in deliveries], delay_seconds
        )

    def sweep(self, subscription: Subscription, until_ms: int, positions: dict[str, Any] | None = None) -> None:
        """Push every delivery of the subscription waiting at `until_ms`; `positions` is where each lane's walk
        stands (a missing lane has not started, None has finished)."""
        message = {
            "sweep": {
                "tenant_id": subscription.tenant_id,
                "subscription_id": subscription.subscription_id,
                "until_ms": until_ms,
                "positions": positions or {},
            }
        }
        self.queue.send(message)


class PushWorker:
    """The `deliver` function's work: one message at a time, any number at once."""

    def __init__(
        self,
        subscriptions: "SubscriptionStore",
        deliveries: "DeliveryStore",
        attempts: "AttemptStore",
        sender: Sender,
        scheduler: PushScheduler,
        clock: Callable[[], datetime],
    ):
        self.subscriptions = subscriptions
        self.deliveries = deliveries
        self.attempts = attempts
        self.sender = sender
        self.scheduler = scheduler
        self.clock = clock

    def handle(self, message: dict) -> None:
        if "sweep" in message:
            self.sweep(message["sweep"])
        else:
            self.push(message["tenant_id"], message["subscription_id"], message["event_id"])

    def push(self, tenant_id: str, subscription_id: str, event_id: str) -> None:
        subscription = self.subscriptions.get(tenant_id, subscription_id)
        if subscription is None or subscription.push is None or subscription.paused:
            return  # deleted, or waiting for a resume's sweep
        now = self.clock()
        now_ms = _ms(now)
        wanted = Delivery(tenant_id, subscription_id, event_id, delivery_count=0)
        leased = self.deliveries.lease(
            wanted, now_ms, secrets.token_urlsafe(16), now_ms + LEASE_SECONDS * 1000, subscription.max_deliveries
        )
        if isinstance(leased, ConditionFailed):
            self._not_leased(subscription, leased.existing, now)
            return
        result = self._send(subscription, leased, now)
        self._settle(subscription, leased, result, now)

    def _not_leased(self, subscription: Subscription, delivery: Delivery | None, now: datetime) -> None:
        """A message came for a delivery that cannot be leased: settled, dead, gone, expired, held by another push
        (which settles it), not due yet (wait on), or spent (bury it)."""
        if delivery is None or delivery.visible_at is None or delivery.expires_at <= now.timestamp():
            return
        now_ms = _ms(now)
        if delivery.visible_at > now_ms and delivery.lease is None:
            self.scheduler.deliver(
                subscription.tenant_id,
                [(subscription.subscription_id, delivery.event_id)],
                _delay(delivery.visible_at - now_ms),
            )
        elif delivery.visible_at <= now_ms and delivery.delivery_count >= subscription.max_deliveries:
            self.deliveries.bury_many([delivery], now_ms, format_time(now), subscription.max_deliveries)

    def _send(self, subscription: Subscription, delivery: Delivery, now: datetime) -> SendResult:
        assert subscription.push is not None
        message_id = webhook_id(subscription.subscription_id, delivery.event_id, delivery.replayed_by)
        body, content_type = _body(delivery, subscription.push.format)
        signatures = " ".join(
            Webhook(secret).sign(message_id, now, body) for secret in subscription.push.live_secrets(_ms(now))
        )
        headers = {
            "content-type": content_type,
            "user-agent": "triggers-api-webhooks/1",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signatures,
        }
        return self.sender.post(subscription.push.url, headers, body.encode())

    def _settle(self, subscription: Subscription, delivery: Delivery, result: SendResult, sent: datetime) -> None:
        now = self.clock()
        now_ms = _ms(now)
        lease = (subscription.tenant_id, subscription.subscription_id, delivery.event_id, delivery.lease or "")
        next_attempt_at = None
        status = result.status_code
        if status is not None and 200 <= status < 300:
            outcome = "delivered"
            self.deliveries.settle_many("acknowledge", [lease], now_ms, format_time(now), [now_ms])
        elif status == 410:
            # The receiver says the hook is gone (Zapier after its Zap is off; Standard Webhooks' meaning too):
            # stop pushing. The delivery waits for a resume.
            outcome = "gone"
            self.deliveries.settle_many("release", [lease], now_ms, "", [now_ms])
            self.subscriptions.update(
                subscription.tenant_id,
                subscription.subscription_id,
                {"paused": True, "paused_reason": RECEIVER_GONE},
                format_time(now),
            )
        elif delivery.delivery_count >= subscription.max_deliveries:
            outcome = "dead"
            self.deliveries.bury_leased(delivery, format_time(now))
        else:
            outcome = "failed"
            wait = RETRY_SCHEDULE[min(delivery.delivery_count, len(RETRY_SCHEDULE)) - 1]
            next_attempt_at = format_time(datetime.fromtimestamp(now_ms / 1000 + wait, UTC))
            self.deliveries.settle_many("release", [lease], now_ms, "", [now_ms + wait * 1000])
            self.scheduler.deliver(
                subscription.tenant_id, [(subscription.subscription_id, delivery.event_id)], _delay(wait * 1000)
            )
        self.attempts.add(
            Attempt(
                subscription_id=subscription.subscription_id,
                event_id=delivery.event_id,
                webhook_id=webhook_id(subscription.subscription_id, delivery.event_id, delivery.replayed_by),
                attempted_at=format_time(sent),
                outcome=outcome,
                duration_ms=result.duration_ms,
                delivery_count=delivery.delivery_count,
                status_code=status,
                error=result.error,
                next_attempt_at=next_attempt_at,
            )
        )
        logger.info(
            "push attempt",
            extra={
                "fields": {
                    "outcome": outcome,
                    "subscription_id": subscription.subscription_id,
                    "event_id": delivery.event_id,
                    "status_code": status,
                    "error": result.error,
                    "duration_ms": result.duration_ms,
                }
            },
        )

    def sweep(self, step: dict) -> None:
        """One page of every lane of a resumed subscription; the rest is handed on in a new message."""
        subscription = self.subscriptions.get(step["tenant_id"], step["subscription_id"])
        if subscription is None or subscription.push is None or subscription.paused:
            return
        positions = dict(step["positions"])
        for shard in range(self.deliveries.shards):
            if str(shard) in positions and positions[str(shard)] is None:
                continue
            event_ids, positions[str(shard)] = self.deliveries.waiting_page(
                subscription.subscription_id, shard, step["until_ms"], positions.get(str(shard)), SWEEP_PAGE
            )
            if event_ids:
                self.scheduler.deliver(subscription.tenant_id, [(subscription.subscription_id, e) for e in event_ids])
        if any(position is not None for position in positions.values()):
            self.scheduler.sweep(subscription, step["until_ms"], positions)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _delay(ms: int) -> int:
    """A queue delay for a wait of `ms`: rounded up, and at most SQS's 15 minutes (a longer wait takes hops)."""
    return max(0, min(MAX_DELAY_SECONDS, -(-ms // 1000)))


def _body(delivery: Delivery, format_: str) -> tuple[str, str]:
    """What a push of `delivery` POSTs, and its media type: the event's JSON (its public fields, as the fan-out
    copied them), or that event as a structured CloudEvent (as GET /v1/events/{id} answers it, without a
    `requestid`: no request asked for it)."""
    if format_ == CLOUDEVENTS_FORMAT:
        assert delivery.event is not None  # the fan-out copies it into every delivery
        return _json(cloudevents.structured(delivery.event, delivery.cloudevents_id)), cloudevents.STRUCTURED
    return _json(delivery.event), "application/json"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
