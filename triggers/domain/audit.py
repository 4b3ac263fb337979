"""The audit trail: what changed a tenant's configuration or moved its deliveries, by whom and in which request.
Recorded: key create and revoke (by the key tool), subscription create, update, delete and secret rotation,
redrives and replays. "Who" is the caller's key id (the request's context), or the key tool's operator, or `system`.
"""

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from triggers import context
from triggers.domain.cursors import CursorSigner
from triggers.domain.model import AuditEntry, format_time

if TYPE_CHECKING:
    from triggers.storage.audit import AuditStore


class AuditTrail:
    def __init__(self, store: "AuditStore", cursors: CursorSigner, clock: Callable[[], datetime]):
        self.store = store
        self.cursors = cursors.scoped("audit")
        self.clock = clock

    def record(self, tenant_id: str, action: str, target: str, actor: str | None = None) -> None:
        state = context.current()
        self.store.add(
            AuditEntry(
                tenant_id=tenant_id,
                audit_id=str(uuid.uuid4()),
                at=format_time(self.clock()),
                actor=actor or (f"key:{state.key_id}" if state and state.key_id else "system"),
                action=action,
                target=target,
                request_id=state.request_id if state else None,
            )
        )

    def page(self, tenant_id: str, limit: int, cursor: str | None) -> tuple[list[AuditEntry], str | None]:
        start = self.cursors.decode(cursor, tenant_id, length=1)[0] if cursor is not None else None
        entries, end = self.store.page(tenant_id, limit, start)
        return entries, self.cursors.encode((end,), tenant_id) if end else None
