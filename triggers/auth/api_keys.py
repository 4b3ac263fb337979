"""API keys: their format, and the check Connexion runs for every operation that needs one.

The spec's `api_key` scheme names `x-apikeyInfoFunc`; the app (triggers/http/app.py) hands Connexion
`Authenticator.authenticate` for it, for a request without the header too. Keys are stored as SHA-256 hashes; a
lookup is by hash, so no stored secret is ever compared byte by byte.

Lookups are remembered per container, in two caches of at most 4,096 entries each (the oldest go first):
- a valid key's record for API_KEY_CACHE_SECONDS: a revoked key keeps working on a warm container for at most that
  long;
- an unknown (or revoked) key for UNKNOWN_KEY_CACHE_SECONDS: repeating a made-up key costs no GetItem, and a flood
  of them cannot push valid keys out of their cache. The price: a key created after a request tried it (or that a
  lookup missed because the GetItem, eventually consistent, ran within a second of the key's creation) is refused on
  that container until its entry expires, UNKNOWN_KEY_CACHE_SECONDS at worst. Each distinct made-up key still costs
  one GetItem per container (AWS WAF's per-address rule bounds those: docs/deploy.md).

A request whose key is missing or unknown counts against its client address's rate limit (triggers/auth/
rate_limits.py), after the lookup: a valid key is never refused by its address's limit.
"""

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from triggers import context
from triggers.auth.cache import TtlCache
from triggers.auth.rate_limits import RateLimits
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
    """One per container: the key store, the key caches and the rate limits.

    `dev_api_key` set (AUTH_MODE=local) means that key alone is valid, for tenant `dev`, and no table is read."""

    def __init__(
        self,
        keys: ApiKeyStore,
        limits: RateLimits,
        cache_seconds: float,
        clock: Callable[[], datetime],
        dev_api_key: str | None = None,
        unknown_cache_seconds: float = 60.0,
        cache_clock: Callable[[], float] = time.monotonic,
    ):
        self.keys = keys
        self.limits = limits
        self.clock = clock
        self.dev_api_key = dev_api_key
        self.known = TtlCache[ApiKeyRecord](cache_seconds, _CACHE_LIMIT, cache_clock)
        self.unknown = TtlCache[bool](unknown_cache_seconds, _CACHE_LIMIT, cache_clock)

    def record_for(self, api_key: str, key_hash: str) -> ApiKeyRecord | None:
        """The key's record if the key is valid now (known, not revoked, not expired), else None."""
        if self.dev_api_key is not None:
            matches = hmac.compare_digest(api_key.encode("utf-8", "surrogatepass"), self.dev_api_key.encode())
            return ApiKeyRecord(key_hash, LOCAL_TENANT, "dev", True, "", SCOPES) if matches else None
        if not api_key or self.unknown.get(key_hash):
            return None  # no key (a missing or empty header), or one this container recently found unknown
        now = self.clock()
        record = self.known.get(key_hash)
        if record is None:
            record = self.keys.find(key_hash)
            if record is None or not record.is_active:
                self.unknown.put(key_hash, True)
                return None
            # Only a known key is written to (a flood of made-up keys costs reads, not writes), and at most once
            # a minute whatever the containers: the write's condition.
            minute_ago = format_time(now - LAST_USED_RESOLUTION)
            if record.last_used_at is None or record.last_used_at < minute_ago:
                self.keys.touch(key_hash, format_time(now), minute_ago)
            self.known.put(key_hash, record)
        if record.expires_at is not None and record.expires_at <= format_time(now):
            return None
        return record

    def authenticate(self, api_key: str, required_scopes: Any = None, request: Any = None) -> dict | None:
        """Connexion's apikey check: the token info of a valid key, or None (which Connexion answers with 401).
        A request without a valid key is counted against its client address's limit (`request.client`, which the
        Lambda adapter takes from API Gateway's `sourceIp`: triggers/http/wsgi.py); a key without a scope the
        operation requires (openapi.yaml) is refused (MissingScope → 403); any other valid key's request is counted
        against its key's and its tenant's limits. Over a limit: RateLimited → 429."""
        key_hash = hash_key(api_key)
        record = self.record_for(api_key, key_hash)
        if record is None:
            client = getattr(request, "client", None)
            self.limits.admit_unknown(client.host if client is not None else None)
            return None
        state = context.current()
        if state is not None:
            state.tenant = record.tenant_id
            state.key_id = record.key_id
        missing = [scope for scope in required_scopes or () if scope not in record.scopes]
        if missing:
            raise MissingScope(missing[0])
        quota = self.limits.admit(key_hash, record.tenant_id)
        if state is not None:
            state.quota = quota
        return {
            "sub": record.tenant_id,
            "key_id": record.key_id,
            "scopes": record.scopes,
            "sources": record.sources,
            "event_types": record.event_types,
        }
