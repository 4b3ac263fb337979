"""What can go wrong in the domain, independent of HTTP (triggers/http/problems.py maps these to statuses)."""


class DomainError(Exception):
    """Base of the errors a client can be told about."""


class EventNotFound(DomainError):
    pass


class AlreadyAcknowledged(DomainError):
    pass


class EventTooLarge(DomainError):
    """The event as it would be stored is over what storage holds in one item; the message says by how much."""


class IdempotencyKeyReused(DomainError):
    pass


class InvalidCursor(DomainError):
    pass


class StorageUnavailable(DomainError):
    """DynamoDB is throttling past the retry budget, unreachable or timing out."""


class RateLimited(DomainError):
    """A limit's requests for the current window are spent: the API key's, its tenant's, or (for requests without a
    valid key) the client address's. The message says which (triggers/auth/rate_limits.py, POLICIES)."""

    MESSAGES = {
        "key": "This API key has made too many requests; retry after Retry-After.",
        "tenant": "The API keys of this tenant together have made too many requests; retry after Retry-After.",
        "address": "Too many requests without a valid API key from this address; retry after Retry-After.",
    }

    def __init__(self, limit: int, reset_seconds: int, policy: str = "key"):
        super().__init__(self.MESSAGES[policy])
        self.limit = limit
        self.reset_seconds = reset_seconds
        self.policy = policy


class SubscriptionNotFound(DomainError):
    pass


class SubscriptionLimitReached(DomainError):
    def __init__(self, limit: int):
        super().__init__(f"A tenant has at most {limit} subscriptions; delete one first.")


class JobNotFound(DomainError):
    pass


class InvalidWindow(DomainError):
    """A replay's time window that cannot be replayed (reversed, in the future, or past retention); the message says
    why."""


class InvalidPushTarget(DomainError):
    """A push URL the service will not send to; the message says why."""


class WrongDeliveryMode(DomainError):
    """An operation of pull subscriptions on a push one, or the reverse; the message says which."""


class RetentionTooLong(DomainError):
    """A `ttl_seconds` over the stage's retention; the message says the maximum."""


class MissingScope(DomainError):
    """The API key lacks the scope the operation requires."""

    def __init__(self, scope: str):
        super().__init__(f"This API key does not have the scope {scope!r}, which this operation requires.")
        self.scope = scope


class EventNotAllowed(DomainError):
    """The API key may not write this source or event type; the message says what it may write."""
