"""Page cursors: a position in an index, signed with the tenant, so a forged or another tenant's cursor is refused.

`base64url(json(position)) + "." + HMAC-SHA256(secret, tenant + body)`, truncated to 144 bits. A listing whose
positions look like another's (`GET /v1/events` and the inbox both page by `(<created_at>#<event_id>, pk)`) signs
with a `scoped` signer, whose secret is derived from the scope: a cursor of one listing fails the MAC on the other.

Rotation: a signer holds one or more secrets. It signs with the first and accepts a cursor signed with any of them,
so during a rollover the configured value is `new,old` (docs/deploy.md, "The cursor secret").
"""

import base64
import hashlib
import hmac
import json

from triggers.domain.errors import InvalidCursor

# HMAC-SHA256 keys shorter than its output weaken it: every configured secret has at least this many bytes.
MIN_SECRET_BYTES = 32


def parse_secrets(value: str, origin: str) -> tuple[bytes, ...]:
    """The secrets of a configured value: `secret` or, during a rotation, `new,old` (commas separate them; blanks
    around each are ignored). ValueError, naming `origin` but never the value, unless each has 32 bytes or more."""
    secrets = tuple(part.strip().encode() for part in value.split(","))
    if not secrets or not all(secrets):
        raise ValueError(f"{origin} holds no cursor secret, or an empty one: give `secret` or `new,old`")
    short = [index for index, secret in enumerate(secrets, 1) if len(secret) < MIN_SECRET_BYTES]
    if short:
        raise ValueError(
            f"{origin}: cursor secret number {short[0]} has fewer than {MIN_SECRET_BYTES} bytes "
            "(generate one: openssl rand -hex 32)"
        )
    return secrets


class CursorSigner:
    def __init__(self, secret: bytes, *previous: bytes):
        """Signs with `secret`; accepts cursors signed with it or with any of `previous` (a rotation's old ones)."""
        self.secrets = (secret, *previous)
        self.secret = secret

    def scoped(self, scope: str) -> "CursorSigner":
        """A signer for one listing only: its cursors and this signer's never verify with each other."""
        return CursorSigner(
            *(hmac.new(secret, f"cursor scope\n{scope}".encode(), hashlib.sha256).digest() for secret in self.secrets)
        )

    @staticmethod
    def _signature(secret: bytes, tenant_id: str, body: str) -> str:
        digest = hmac.new(secret, f"{tenant_id}\n{body}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def encode(self, position: tuple[str, ...], tenant_id: str) -> str:
        body = base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{body}.{self._signature(self.secret, tenant_id, body)}"

    def decode(self, cursor: str, tenant_id: str, length: int) -> tuple[str, ...]:
        """The position a cursor holds; InvalidCursor unless this API issued it for this tenant."""
        body, _, signature = cursor.partition(".")
        # Every secret is tried (no early exit), so the time taken does not tell which one matched.
        matches = [
            hmac.compare_digest(signature.encode(), self._signature(secret, tenant_id, body).encode())
            for secret in self.secrets
        ]
        if not any(matches):
            raise InvalidCursor("The cursor is not one this API issued for this API key's tenant.")
        try:
            position = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, TypeError) as exc:
            raise InvalidCursor("The cursor cannot be read.") from exc
        if not (isinstance(position, list) and len(position) == length and all(isinstance(p, str) for p in position)):
            raise InvalidCursor("The cursor cannot be read.")
        return tuple(position)
