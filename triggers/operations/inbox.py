"""GET /v1/inbox."""

from triggers.domain.events import EventService
from triggers.http.responses import json_response


class Inbox:
    def __init__(self, events: EventService):
        self.events = events

    async def list_inbox(
        self, user: str, limit: int, cursor: str | None = None, source: str | None = None, event_type: str | None = None
    ):
        page, next_cursor = self.events.list_inbox(user, limit, cursor, source, event_type)
        return json_response({"events": [event.public() for event in page], "next_cursor": next_cursor})
