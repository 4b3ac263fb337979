"""GET and POST /v1/events, GET and DELETE /v1/events/{event_id}, POST /v1/events/{event_id}/ack.

Connexion has validated every argument against openapi.yaml and authenticated the key before these run;
`user` is the caller's tenant.
"""

from connexion import request

from triggers.domain.events import EventService
from triggers.http.responses import json_response


class Events:
    def __init__(self, events: EventService):
        self.events = events

    async def create_event(self, body: dict, user: str):
        event_id, created_at = self.events.create_event(
            user, body["source"], body["event_type"], body["payload"], request.headers.get("idempotency-key")
        )
        location = f"{request.scope.get('root_path', '')}/v1/events/{event_id}"
        return json_response(
            {"event_id": event_id, "status": "pending", "created_at": created_at}, 201, {"Location": location}
        )

    async def list_events(
        self, user: str, limit: int, cursor: str | None = None, source: str | None = None, event_type: str | None = None
    ):
        page, next_cursor = self.events.list_events(user, limit, cursor, source, event_type)
        return json_response({"events": [event.public() for event in page], "next_cursor": next_cursor})

    async def get_event(self, event_id: str, user: str):
        return json_response(self.events.get_event(user, event_id).public())

    async def acknowledge_event(self, event_id: str, user: str):
        acknowledged_at = self.events.acknowledge_event(user, event_id)
        return json_response({"event_id": event_id, "status": "acknowledged", "acknowledged_at": acknowledged_at})

    async def delete_event(self, event_id: str, user: str):
        self.events.delete_event(user, event_id)
        return json_response({"event_id": event_id, "deleted": True})
