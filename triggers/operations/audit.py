"""GET /v1/audit: the tenant's audit trail, newest first. `user` is the caller's tenant."""

from triggers.domain.audit import AuditTrail
from triggers.http.responses import json_response


class Audit:
    def __init__(self, trail: AuditTrail):
        self.trail = trail

    async def list_audit(self, user: str, limit: int, cursor: str | None = None):
        entries, next_cursor = self.trail.page(user, limit, cursor)
        return json_response({"entries": [entry.public() for entry in entries], "next_cursor": next_cursor})
