"""API keys: their format, and the check Connexion runs for every operation that needs one.

The spec names `authenticate` as the `x-apikeyInfoFunc` of its `api_key` scheme. Keys are stored as SHA-256
hashes; a lookup is by hash, so no stored secret is ever compared byte by byte. Results (found or not) are cached
per container for API_KEY_CACHE_SECONDS: a revoked key keeps working on a warm container for at most that long.
"""

import hashlib
import hmac
import secrets
import time

from triggers import settings
from triggers.auth import rate_limits
from triggers.http import context
from triggers.storage import api_keys as store

KEY_PREFIX = "trg_"
LOCAL_TENANT = "dev"
_CACHE_LIMIT = 4096

_cache: dict[str, tuple[float, str | None]] = {}


def generate_key() -> str:
    """A new key: the prefix lets secret scanners find leaked keys; 256 random bits make it unguessable."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()


def _tenant_for(api_key: str, key_hash: str) -> str | None:
    config = settings.current()
    if config.auth_mode == "local":
        matches = hmac.compare_digest(api_key.encode("utf-8", "surrogatepass"), config.dev_api_key.encode())
        return LOCAL_TENANT if matches else None
    now = time.monotonic()
    cached = _cache.get(key_hash)
    if cached is not None and cached[0] > now:
        return cached[1]
    record = store.find(key_hash)
    tenant = record.tenant_id if record is not None and record.is_active else None
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()  # bounded memory under a flood of made-up keys
    _cache[key_hash] = (now + config.key_cache_seconds, tenant)
    return tenant


def forget_cached_keys() -> None:
    _cache.clear()


def authenticate(api_key: str, required_scopes=None) -> dict | None:
    """Connexion's apikey check: the token info of a valid key, or None (which Connexion answers with 401).
    A valid key's request is then counted against its rate limit (RateLimited → 429)."""
    key_hash = hash_key(api_key)
    tenant = _tenant_for(api_key, key_hash)
    if tenant is None:
        return None
    state = context.current()
    if state is not None:
        state.tenant = tenant
    quota = rate_limits.admit(key_hash)
    if state is not None:
        state.quota = quota
    return {"sub": tenant}
