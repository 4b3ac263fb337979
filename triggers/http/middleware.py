"""ASGI middlewares around Connexion's: the request's identity and log line, and the body size limit."""

import logging
import time

from connexion.exceptions import ProblemException
from starlette.types import ASGIApp, Receive, Scope, Send

from triggers import context
from triggers.settings import MAX_BODY_BYTES

logger = logging.getLogger("triggers.request")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class RequestContext:
    """Gives every request an id (echoed in the X-Request-ID header) and writes its one log line."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lambda_context = scope.get("aws.context")
        state = context.begin(_header(scope, b"x-request-id"), getattr(lambda_context, "aws_request_id", None))
        started = time.perf_counter()
        status = 500

        async def send_with_request_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", state.request_id.encode()))
                if state.quota is not None:
                    headers += [
                        (b"ratelimit-limit", str(state.quota.limit).encode()),
                        (b"ratelimit-remaining", str(state.quota.remaining).encode()),
                        (b"ratelimit-reset", str(state.quota.reset_seconds).encode()),
                    ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
            logger.log(
                level,
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "fields": {
                        "method": scope["method"],
                        "path": scope["path"],
                        "operation": _operation(scope),
                        "status": status,
                        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                    }
                },
            )


def _operation(scope: Scope) -> str | None:
    """The operationId Connexion's router matched (it names the route: one operation per method and path), without
    the router controller Connexion puts in front of it."""
    operation_id = scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
    return operation_id.rpartition(".")[2] if operation_id else None


class ContentTypes:
    """Every body reaches validation as the spec declares it. Media types are case-insensitive (RFC 9110), but
    Connexion picks the body validator with a case-sensitive match, so `Application/Json` skipped validation;
    and with no Content-Type at all Connexion validates the body as JSON but hands the operation raw bytes. The
    media type is lower-cased, and a request that can carry a body and names no type is taken as JSON (the only
    type this API reads)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = [(k, v) for k, v in scope.get("headers", []) if k != b"content-type"]
            given = _header(scope, b"content-type")
            media_type, semicolon, parameters = (given or "application/json").partition(";")
            value = media_type.strip().lower() + semicolon + parameters
            scope = {**scope, "headers": [*headers, (b"content-type", value.encode("latin-1"))]}
        await self.app(scope, receive, send)


class BodySizeLimit:
    """413 before anything reads the body. Inside Connexion's exception handling, so it answers as a problem."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = _header(scope, b"content-length") if scope["type"] == "http" else None
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise ProblemException(
                status=413, title="Payload Too Large", detail=f"The request body is over {MAX_BODY_BYTES} bytes."
            )
        await self.app(scope, receive, send)
