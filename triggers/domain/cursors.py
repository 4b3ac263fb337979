"""Page cursors: a position in an index, signed with the tenant, so a forged or another tenant's cursor is refused.

`base64url(json(position)) + "." + HMAC-SHA256(secret, tenant + body)`, truncated to 144 bits. A listing whose
positions look like another's (`GET /v1/events` and the inbox both page by `(<created_at>#<event_id>, pk)`) signs
with a `scoped` signer, whose secret is derived from the scope: a cursor of one listing fails the MAC on the other.
"""

import base64
import hashlib
import hmac
import json

from triggers.domain.errors import InvalidCursor


class CursorSigner:
    def __init__(self, secret: bytes):
        self.secret = secret

    def scoped(self, scope: str) -> "CursorSigner":
        """A signer for one listing only: its cursors and this signer's never verify with each other."""
        return CursorSigner(hmac.new(self.secret, f"cursor scope\n{scope}".encode(), hashlib.sha256).digest())

    def _signature(self, tenant_id: str, body: str) -> str:
        digest = hmac.new(self.secret, f"{tenant_id}\n{body}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def encode(self, position: tuple[str, ...], tenant_id: str) -> str:
        body = base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{body}.{self._signature(tenant_id, body)}"

    def decode(self, cursor: str, tenant_id: str, length: int) -> tuple[str, ...]:
        """The position a cursor holds; InvalidCursor unless this API issued it for this tenant."""
        body, _, signature = cursor.partition(".")
        if not hmac.compare_digest(signature.encode(), self._signature(tenant_id, body).encode()):
            raise InvalidCursor("The cursor is not one this API issued for this API key's tenant.")
        try:
            position = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, TypeError) as exc:
            raise InvalidCursor("The cursor cannot be read.") from exc
        if not (isinstance(position, list) and len(position) == length and all(isinstance(p, str) for p in position)):
            raise InvalidCursor("The cursor cannot be read.")
        return tuple(position)
