"""What can go wrong in the domain, independent of HTTP (triggers/http/problems.py maps these to statuses)."""


class DomainError(Exception):
    """Base of the errors a client can be told about."""


class EventNotFound(DomainError):
    pass


class AlreadyAcknowledged(DomainError):
    pass


class IdempotencyKeyReused(DomainError):
    pass


class InvalidCursor(DomainError):
    pass


class StorageUnavailable(DomainError):
    """DynamoDB is throttling past the retry budget, unreachable or timing out."""
