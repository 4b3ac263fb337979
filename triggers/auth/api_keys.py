"""API keys: their format, and the check Connexion runs for every operation that needs one.

The spec's `api_key` scheme names `x-apikeyInfoFunc`; the app (triggers/http/app.py) hands Connexion
`Authenticator.authenticate` for it. Keys are stored as SHA-256 hashes; a lookup is by hash, so no stored secret is
ever compared byte by byte. Results (found or not) are cached per container for API_KEY_CACHE_SECONDS: a revoked
key keeps working on a warm container for at most that long.
"""

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from triggers import context
from triggers.auth.rate_limits import RateLimiter
from triggers.domain.errors import MissingScope
from triggers.domain.model import format_time
from triggers.storage.api_keys import SCOPES, ApiKeyRecord, ApiKeyStore

KEY_PREFIX = "trg_"
LOCAL_TENANT = "dev"
_CACHE_LIMIT = 4096
# `last_used_at` is written at most this often per key, whatever the number of containers and requests.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def generate_key() -> str:
    """A new key: the prefix lets secret scanners find leaked keys; 256 random bits make it unguessable."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()


class Authenticator:
    """One per container: the key store, the key cache and the rate limiter.

    `dev_api_key` set (AUTH_MODE=local) means that key alone is valid, for tenant `dev`, and no table is read."""

    def __init__(
        self,
        keys: ApiKeyStore,
        limiter: RateLimiter,
        cache_seconds: float,
        clock: Callable[[], datetime],
        dev_api_key: str | None = None,
    ):
        self.keys = keys
        self.limiter = limiter
        self.cache_seconds = cache_seconds
        self.clock = clock
        self.dev_api_key = dev_api_key
        self.cache: dict[str, tuple[float, ApiKeyRecord | None]] = {}

    def record_for(self, api_key: str, key_hash: str) -> ApiKeyRecord | None:
        """The key's record if the key is valid now (known, not revoked, not expired), else None."""
        if self.dev_api_key is not None:
            matches = hmac.compare_digest(api_key.encode("utf-8", "surrogatepass"), self.dev_api_key.encode())
            return ApiKeyRecord(key_hash, LOCAL_TENANT, "dev", True, "", SCOPES) if matches else None
        now = self.clock()
        cached = self.cache.get(key_hash)
        if cached is not None and cached[0] > time.monotonic():
            record = cached[1]
        else:
            record = self.keys.find(key_hash)
            if record is not None and not record.is_active:
                record = None
            # Only a known key is written to (a flood of made-up keys costs reads, not writes), and at most once
            # a minute whatever the containers: the write's condition.
            minute_ago = format_time(now - LAST_USED_RESOLUTION)
            if record is not None and (record.last_used_at is None or record.last_used_at < minute_ago):
                self.keys.touch(key_hash, format_time(now), minute_ago)
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()  # bounded memory under a flood of made-up keys
            self.cache[key_hash] = (time.monotonic() + self.cache_seconds, record)
        if record is not None and record.expires_at is not None and record.expires_at <= format_time(now):
            return None
        return record

    def authenticate(self, api_key: str, required_scopes: Any = None) -> dict | None:
        """Connexion's apikey check: the token info of a valid key, or None (which Connexion answers with 401).
        A key without a scope the operation requires (openapi.yaml) is refused (MissingScope → 403); any other
        valid key's request is counted against its rate limit (RateLimited → 429)."""
        key_hash = hash_key(api_key)
        record = self.record_for(api_key, key_hash)
        if record is None:
            return None
        state = context.current()
        if state is not None:
            state.tenant = record.tenant_id
            state.key_id = record.key_id
        missing = [scope for scope in required_scopes or () if scope not in record.scopes]
        if missing:
            raise MissingScope(missing[0])
        quota = self.limiter.admit(key_hash)
        if state is not None:
            state.quota = quota
        return {"sub": record.tenant_id, "sources": record.sources, "event_types": record.event_types}
