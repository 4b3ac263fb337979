"""GET /v1/inbox."""

from triggers.domain import events
from triggers.http.responses import json_response


async def list_inbox(
    user: str, limit: int, cursor: str | None = None, source: str | None = None, event_type: str | None = None
):
    page, next_cursor = events.list_inbox(user, limit, cursor, source, event_type)
    return json_response({"events": [event.public() for event in page], "next_cursor": next_cursor})
