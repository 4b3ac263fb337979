"""GET and POST /v1/events, POST /v1/events/batch, GET and DELETE /v1/events/{event_id},
POST /v1/events/{event_id}/ack.

Connexion has validated every argument against openapi.yaml and authenticated the key before these run;
`user` is the caller's tenant. A body is in our own shape or, by its media type, a CloudEvent
(triggers/http/cloudevents.py).
"""

from connexion import request

from triggers import context
from triggers.domain.cloudevents import structured
from triggers.domain.errors import DomainError
from triggers.domain.events import Created, EventService, NewEvent
from triggers.domain.model import WriteGrant
from triggers.http import cloudevents
from triggers.http.problems import item_problem
from triggers.http.responses import json_response


class Events:
    def __init__(self, events: EventService):
        self.events = events

    async def create_event(self, body: dict, user: str, token_info: dict):
        if request.headers.get("content-type", "").startswith(cloudevents.STRUCTURED):
            new = cloudevents.to_new_event(body)
        else:
            new = _new_event(body, request.headers.get("idempotency-key"))
        created = self.events.create(user, new, _grant(token_info))
        location = f"{request.scope.get('root_path', '')}/v1/events/{created.event_id}"
        return json_response(
            {"event_id": created.event_id, "status": "pending", "created_at": created.created_at},
            201,
            {"Location": location},
        )

    async def create_events(self, body: dict | list, user: str, token_info: dict):
        """A batch: our own `{events: [...]}`, or a CloudEvents batch (a JSON array of structured events)."""
        if isinstance(body, list):
            requests = [cloudevents.to_new_event(item) for item in body]
        else:
            requests = [_new_event(item) for item in body["events"]]
        outcomes = self.events.create_many(user, requests, _grant(token_info))
        return json_response({"results": [_result(outcome) for outcome in outcomes]})

    async def list_events(
        self, user: str, limit: int, cursor: str | None = None, source: str | None = None, event_type: str | None = None
    ):
        page, next_cursor = self.events.list_events(user, limit, cursor, source, event_type)
        return json_response({"events": [event.public() for event in page], "next_cursor": next_cursor})

    async def get_event(self, event_id: str, user: str):
        event = self.events.get_event(user, event_id)
        if cloudevents.prefers_structured(request.headers.get("accept")):
            body = {**structured(event.public(), event.cloudevents_id), "requestid": context.request_id()}
            return body, 200, {"Content-Type": cloudevents.STRUCTURED}
        return json_response(event.public())

    async def acknowledge_event(self, event_id: str, user: str):
        acknowledged_at = self.events.acknowledge_event(user, event_id)
        return json_response({"event_id": event_id, "status": "acknowledged", "acknowledged_at": acknowledged_at})

    async def delete_event(self, event_id: str, user: str):
        self.events.delete_event(user, event_id)
        return json_response({"event_id": event_id, "deleted": True})


def _grant(token_info: dict) -> WriteGrant:
    """What the caller's key may write (triggers/auth/api_keys.py puts it in the token info)."""
    return WriteGrant(tuple(token_info["sources"]), tuple(token_info["event_types"]))


def _new_event(body: dict, idempotency_key: str | None = None) -> NewEvent:
    return NewEvent(
        source=body["source"],
        event_type=body["event_type"],
        payload=body["payload"],
        idempotency_key=body.get("idempotency_key", idempotency_key),
        ttl_seconds=body.get("ttl_seconds"),
    )


def _result(outcome: Created | DomainError) -> dict:
    """One item of a batch's answer: 201 (stored), 200 (stored before, under the same key), or its problem."""
    if isinstance(outcome, DomainError):
        problem = item_problem(outcome)
        return {"status": problem["status"], "error": problem}
    return {"status": 200 if outcome.replayed else 201, "event_id": outcome.event_id, "created_at": outcome.created_at}
