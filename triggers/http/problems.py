"""Every error leaves as application/problem+json with a stable `type`, a fixed `title`, a specific `detail` and
the request id. This is the one place that maps exceptions (Connexion's, Starlette's, the domain's) to statuses.
"""

import logging
import re

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.problem import problem as connexion_problem
from starlette.exceptions import HTTPException

from triggers import context
from triggers.domain.errors import (
    AlreadyAcknowledged,
    DomainError,
    EventNotAllowed,
    EventNotFound,
    EventTooLarge,
    IdempotencyKeyReused,
    InvalidCursor,
    InvalidPushTarget,
    InvalidWindow,
    JobNotFound,
    MissingScope,
    RateLimited,
    RetentionTooLong,
    StorageUnavailable,
    SubscriptionLimitReached,
    SubscriptionNotFound,
    WrongDeliveryMode,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1

# status → (type, title)
_KINDS = {
    400: ("/problems/bad-request", "Bad Request"),
    401: ("/problems/unauthorized", "Unauthorized"),
    403: ("/problems/forbidden", "Forbidden"),
    404: ("/problems/not-found", "Not Found"),
    405: ("/problems/method-not-allowed", "Method Not Allowed"),
    409: ("/problems/conflict", "Conflict"),
    413: ("/problems/payload-too-large", "Payload Too Large"),
    415: ("/problems/unsupported-media-type", "Unsupported Media Type"),
    422: ("/problems/unprocessable", "Unprocessable Entity"),
    429: ("/problems/rate-limited", "Too Many Requests"),
    500: ("/problems/internal-error", "Internal Server Error"),
    503: ("/problems/service-unavailable", "Service Unavailable"),
}

# domain error → (status, type, detail)
_DOMAIN = {
    EventNotFound: (404, "/problems/not-found", "No event with this id."),
    AlreadyAcknowledged: (409, "/problems/already-acknowledged", "The event is already acknowledged."),
    IdempotencyKeyReused: (422, "/problems/idempotency-key-reused", None),  # the exception says which key
    InvalidCursor: (400, "/problems/invalid-cursor", None),  # the exception's own message says which
    StorageUnavailable: (503, "/problems/service-unavailable", "Storage is unavailable; retry later."),
    RateLimited: (429, "/problems/rate-limited", None),  # the exception says whose limit: key, tenant or address
    SubscriptionNotFound: (404, "/problems/not-found", "No subscription with this id."),
    SubscriptionLimitReached: (409, "/problems/subscription-limit", None),  # the exception says the limit
    JobNotFound: (404, "/problems/not-found", "No job with this id."),
    InvalidWindow: (422, "/problems/invalid-window", None),  # the exception says what is wrong with it
    InvalidPushTarget: (422, "/problems/invalid-push-url", None),  # the exception says what is wrong
    WrongDeliveryMode: (409, "/problems/wrong-delivery-mode", None),  # the exception says which mode
    MissingScope: (403, "/problems/missing-scope", None),  # the exception names the scope
    EventNotAllowed: (403, "/problems/event-not-allowed", None),  # the exception says what the key may write
    EventTooLarge: (413, "/problems/payload-too-large", None),  # the exception says by how much
    RetentionTooLong: (422, "/problems/ttl-too-long", None),  # the exception says the stage's maximum
}

# The same answer whatever was wrong with the key, so probing learns nothing.
UNAUTHORIZED_DETAIL = "A valid API key is required in the X-API-Key header."
INTERNAL_DETAIL = "An unexpected error occurred; quote the request id when reporting it."
# A detail may quote what the client sent (a value, a key, a content type, a parameter's name): never more of it
# than fits in this many characters. Validation already cuts the values it quotes (triggers/http/validation.py).
MAX_DETAIL_CHARS = 240


def problem(status: int, detail: str, type_: str | None = None, headers: dict | None = None) -> ConnexionResponse:
    default_type, title = _KINDS.get(status, ("about:blank", "Error"))
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[: MAX_DETAIL_CHARS - 1] + "…"
    return connexion_problem(
        status=status,
        title=title,
        detail=detail,
        type=type_ or default_type,
        headers={"X-Request-ID": context.request_id(), **(headers or {})},
        ext={"request_id": context.request_id()},
    )


def _log(status: int, exc: Exception) -> None:
    if status >= 500:
        logger.error("request failed: %s", type(exc).__name__, exc_info=exc)
    else:
        logger.warning("request refused: %s %s", status, type(exc).__name__)


def on_problem(_request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    """Connexion's own refusals: validation (400), auth (401), content type (415), ..."""
    _log(exc.status, exc)
    if exc.status == 401:
        return problem(401, UNAUTHORIZED_DETAIL)
    if exc.status >= 500:
        return problem(exc.status, INTERNAL_DETAIL)
    return problem(exc.status, str(exc.detail), headers=exc.headers)


class AllowedMethods:
    """The methods the spec documents for a path, for the Allow header of a 405.

    Connexion registers one Starlette route per path and method, and Starlette's 405 names only the methods of the
    first route whose path matched: without this, `Allow` for /v1/events/{event_id} would omit DELETE.
    """

    def __init__(self, spec_paths: dict):
        self._paths = [(_path_pattern(path), methods) for path, methods in spec_paths.items()]

    def __call__(self, path: str) -> str | None:
        for pattern, operations in self._paths:
            if pattern.match(path):
                methods = {method.upper() for method in operations if method in _HTTP_METHODS}
                if "GET" in methods:
                    methods.add("HEAD")
                return ", ".join(sorted(methods))
        return None


def _path_pattern(template: str) -> re.Pattern:
    """/v1/events/{event_id} → a pattern matching /v1/events/<anything but a slash>."""
    literal_parts = re.split(r"\{[^/}]+\}", template)
    return re.compile("[^/]+".join(map(re.escape, literal_parts)) + "$")


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def on_http_exception_for(allowed_methods: AllowedMethods):
    def on_http_exception(request: ConnexionRequest, exc: HTTPException) -> ConnexionResponse:
        """Starlette's: no such route (404), method not allowed (405)."""
        _log(exc.status_code, exc)
        detail = exc.detail if exc.status_code < 500 else INTERNAL_DETAIL
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allow = allowed_methods(request.scope.get("path", "")[len(request.scope.get("root_path", "")) :])
            if allow:
                headers["Allow"] = allow
        return problem(exc.status_code, str(detail), headers=headers)

    return on_http_exception


def item_problem(exc: DomainError) -> dict:
    """The problem object of one item of a batch (its envelope carries the request id): the same type, title,
    status and detail as the error would have had alone."""
    status, type_, detail = next(mapping for cls, mapping in _DOMAIN.items() if isinstance(exc, cls))
    _log(status, exc)
    detail = detail or str(exc)
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[: MAX_DETAIL_CHARS - 1] + "…"
    return {"type": type_, "title": _KINDS[status][1], "status": status, "detail": detail}


def on_domain_error(_request: ConnexionRequest, exc: DomainError) -> ConnexionResponse:
    status, type_, detail = next(mapping for cls, mapping in _DOMAIN.items() if isinstance(exc, cls))
    _log(status, exc)
    headers = None
    if isinstance(exc, StorageUnavailable):
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    elif isinstance(exc, RateLimited):
        headers = {
            "Retry-After": str(exc.reset_seconds),
            "RateLimit-Limit": str(exc.limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(exc.reset_seconds),
        }
    return problem(status, detail or str(exc), type_=type_, headers=headers)


def on_unexpected(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """A bug: the stack trace goes to the log, the client gets the request id and nothing of the exception."""
    _log(500, exc)
    return problem(500, INTERNAL_DETAIL)


def register(app, spec_paths: dict) -> None:
    app.add_error_handler(ProblemException, on_problem)
    app.add_error_handler(HTTPException, on_http_exception_for(AllowedMethods(spec_paths)))
    app.add_error_handler(DomainError, on_domain_error)
    app.add_error_handler(Exception, on_unexpected)
