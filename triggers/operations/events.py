"""POST /v1/events, GET and DELETE /v1/events/{event_id}, POST /v1/events/{event_id}/ack.

Connexion has validated every argument against openapi.yaml and authenticated the key before these run;
`user` is the caller's tenant.
"""

from connexion import request

from triggers.domain import events
from triggers.http.responses import json_response


async def create_event(body: dict, user: str):
    event = events.create_event(
        user, body["source"], body["event_type"], body["payload"], request.headers.get("idempotency-key")
    )
    location = f"{request.scope.get('root_path', '')}/v1/events/{event.event_id}"
    return json_response(
        {"event_id": event.event_id, "status": "pending", "created_at": event.created_at}, 201, {"Location": location}
    )


async def get_event(event_id: str, user: str):
    return json_response(events.get_event(user, event_id).public())


async def acknowledge_event(event_id: str, user: str):
    acknowledged_at = events.acknowledge_event(user, event_id)
    return json_response({"event_id": event_id, "status": "acknowledged", "acknowledged_at": acknowledged_at})


async def delete_event(event_id: str, user: str):
    events.delete_event(user, event_id)
    return json_response({"event_id": event_id, "deleted": True})
