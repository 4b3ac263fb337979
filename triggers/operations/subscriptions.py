"""/v1/subscriptions and what hangs below it: receive, ack, nack, extend, dead letters, redrive, replay, and for
push subscriptions the secret's rotation and the attempts.

Connexion has validated every argument against openapi.yaml (and filled in the body's defaults) and authenticated
the key before these run; `user` is the caller's tenant.
"""

from connexion import request

from triggers.domain.deliveries import DeliveryService, lease_token, time_of_ms
from triggers.domain.jobs import JobService
from triggers.domain.model import JSON_FORMAT, Delivery, Job
from triggers.domain.subscriptions import SubscriptionService, filter_of
from triggers.http.responses import json_response


def _delivery(delivery: Delivery) -> dict:
    return {
        "lease_token": lease_token(delivery),
        "delivery_count": delivery.delivery_count,
        "lease_expires_at": time_of_ms(delivery.visible_at or 0),
        "event": delivery.event,
    }


def _dead_letter(delivery: Delivery) -> dict:
    return {
        "event_id": delivery.event_id,
        "delivery_count": delivery.delivery_count,
        "died_at": delivery.died_at,
        "event": delivery.event,
    }


def _outcomes(tokens: list[str], outcomes: list[str]) -> dict:
    return {"results": [{"lease_token": t, "outcome": o} for t, o in zip(tokens, outcomes, strict=True)]}


def _started(job: Job):
    """202: the job runs in the background; `Location` is where its progress shows."""
    location = f"{request.scope.get('root_path', '')}/v1/jobs/{job.job_id}"
    return json_response(job.public(), 202, {"Location": location})


class Subscriptions:
    def __init__(self, subscriptions: SubscriptionService, deliveries: DeliveryService, jobs: JobService):
        self.subscriptions = subscriptions
        self.deliveries = deliveries
        self.jobs = jobs

    async def create_subscription(self, body: dict, user: str):
        delivery = body["delivery"]
        subscription = self.subscriptions.create(
            user,
            body["name"],
            filter_of(body.get("filter")),
            body["max_deliveries"],
            delivery.get("url"),
            delivery.get("format", JSON_FORMAT),
        )
        location = f"{request.scope.get('root_path', '')}/v1/subscriptions/{subscription.subscription_id}"
        shown_once = {"secret": subscription.push.secrets[0].secret} if subscription.push else {}
        return json_response({**subscription.public(), **shown_once}, 201, {"Location": location})

    async def list_subscriptions(self, user: str, limit: int, cursor: str | None = None):
        page, next_cursor = self.subscriptions.page(user, limit, cursor)
        return json_response({"subscriptions": [s.public() for s in page], "next_cursor": next_cursor})

    async def get_subscription(self, subscription_id: str, user: str):
        return json_response(self.subscriptions.get(user, subscription_id).public())

    async def update_subscription(self, subscription_id: str, body: dict, user: str):
        changes = {name: value for name, value in body.items() if name != "delivery"}
        if "filter" in body:
            changes["filter"] = filter_of(body["filter"])
        if "delivery" in body:
            changes["format"] = body["delivery"]["format"]
        return json_response(self.subscriptions.update(user, subscription_id, changes).public())

    async def rotate_secret(self, subscription_id: str, user: str):
        subscription, previous_until = self.subscriptions.rotate_secret(user, subscription_id)
        assert subscription.push is not None
        return json_response(
            {
                "subscription_id": subscription.subscription_id,
                "secret": subscription.push.secrets[0].secret,
                "previous_secret_expires_at": time_of_ms(previous_until),
            }
        )

    async def list_attempts(self, subscription_id: str, user: str, limit: int, cursor: str | None = None):
        page, next_cursor = self.deliveries.attempts(user, subscription_id, limit, cursor)
        return json_response({"attempts": [a.public() for a in page], "next_cursor": next_cursor})

    async def delete_subscription(self, subscription_id: str, user: str):
        self.subscriptions.delete(user, subscription_id)
        return json_response({"subscription_id": subscription_id, "deleted": True})

    async def receive_deliveries(self, subscription_id: str, body: dict, user: str):
        leased = self.deliveries.receive(
            user, subscription_id, body["max_events"], body["visibility_timeout"], body["wait_seconds"]
        )
        return json_response({"deliveries": [_delivery(delivery) for delivery in leased]})

    async def ack_deliveries(self, subscription_id: str, body: dict, user: str):
        tokens = body["lease_tokens"]
        return json_response(_outcomes(tokens, self.deliveries.settle(user, subscription_id, "acknowledge", tokens)))

    async def nack_deliveries(self, subscription_id: str, body: dict, user: str):
        tokens = [item["lease_token"] for item in body["items"]]
        delays = [item["delay_seconds"] for item in body["items"]]
        return json_response(
            _outcomes(tokens, self.deliveries.settle(user, subscription_id, "release", tokens, delays))
        )

    async def extend_leases(self, subscription_id: str, body: dict, user: str):
        tokens = [item["lease_token"] for item in body["items"]]
        timeouts = [item["visibility_timeout"] for item in body["items"]]
        outcomes = self.deliveries.settle(user, subscription_id, "extend", tokens, timeouts)
        return json_response(_outcomes(tokens, outcomes))

    async def list_dead_letters(self, subscription_id: str, user: str, limit: int, cursor: str | None = None):
        page, next_cursor = self.deliveries.dead_letters(user, subscription_id, limit, cursor)
        return json_response({"dead_letters": [_dead_letter(d) for d in page], "next_cursor": next_cursor})

    async def list_event_deliveries(self, event_id: str, user: str):
        deliveries = [
            {"subscription_id": d.subscription_id, "state": state, "delivery_count": d.delivery_count}
            for d, state in self.deliveries.of_event(user, event_id)
        ]
        return json_response({"event_id": event_id, "deliveries": deliveries})

    async def get_backlog(self, subscription_id: str, user: str):
        backlog = self.deliveries.backlog(user, subscription_id)
        oldest = None if backlog.oldest_ready_ms is None else time_of_ms(backlog.oldest_ready_ms)
        return json_response(
            {
                "subscription_id": subscription_id,
                "ready": backlog.ready,
                "leased": backlog.leased,
                "complete": backlog.complete,
                "oldest_ready_at": oldest,
            }
        )

    async def redrive_dead_letters(self, subscription_id: str, body: dict, user: str):
        if body.get("all"):
            return _started(self.jobs.start_redrive(user, subscription_id))
        event_ids = body["event_ids"]
        outcomes = self.deliveries.redrive(user, subscription_id, event_ids)
        results = [{"event_id": e, "outcome": o} for e, o in zip(event_ids, outcomes, strict=True)]
        return json_response({"results": results})

    async def replay_subscription(self, subscription_id: str, body: dict, user: str):
        return _started(self.jobs.start_replay(user, subscription_id, body["from"], body.get("to")))
