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
from typing import Any

from triggers import context
from triggers.auth.rate_limits import RateLimiter
from triggers.storage.api_keys import ApiKeyStore

KEY_PREFIX = "trg_"
LOCAL_TENANT = "dev"
_CACHE_LIMIT = 4096


def generate_key() -> str:
    """A new key: the prefix lets secret scanners find leaked keys; 256 random bits make it unguessable."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()


class Authenticator:
    """One per container: the key store, the key cache and the rate limiter.

    `dev_api_key` set (AUTH_MODE=local) means that key alone is valid, for tenant `dev`, and no table is read."""

    def __init__(self, keys: ApiKeyStore, limiter: RateLimiter, cache_seconds: float, dev_api_key: str | None = None):
        self.keys = keys
        self.limiter = limiter
        self.cache_seconds = cache_seconds
        self.dev_api_key = dev_api_key
        self.cache: dict[str, tuple[float, str | None]] = {}

    def tenant_for(self, api_key: str, key_hash: str) -> str | None:
        if self.dev_api_key is not None:
            matches = hmac.compare_digest(api_key.encode("utf-8", "surrogatepass"), self.dev_api_key.encode())
            return LOCAL_TENANT if matches else None
        now = time.monotonic()
        cached = self.cache.get(key_hash)
        if cached is not None and cached[0] > now:
            return cached[1]
        record = self.keys.find(key_hash)
        tenant = record.tenant_id if record is not None and record.is_active else None
        if len(self.cache) >= _CACHE_LIMIT:
            self.cache.clear()  # bounded memory under a flood of made-up keys
        self.cache[key_hash] = (now + self.cache_seconds, tenant)
        return tenant

    def authenticate(self, api_key: str, required_scopes: Any = None) -> dict | None:
        """Connexion's apikey check: the token info of a valid key, or None (which Connexion answers with 401).
        A valid key's request is then counted against its rate limit (RateLimited → 429)."""
        key_hash = hash_key(api_key)
        tenant = self.tenant_for(api_key, key_hash)
        if tenant is None:
            return None
        state = context.current()
        if state is not None:
            state.tenant = tenant
        quota = self.limiter.admit(key_hash)
        if state is not None:
            state.quota = quota
        return {"sub": tenant}
