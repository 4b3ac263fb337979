"""ASGI middlewares around Connexion's: the request's identity and log line, the body size limit, what HTTP asks
of every answer (security headers, relative redirects), and problems where Starlette answers in plain text."""

import base64
import hashlib
import logging
import re
import time
from urllib.parse import urlsplit

from connexion.exceptions import BadRequestProblem, ProblemException
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triggers import context
from triggers.http import problems
from triggers.http.wsgi import UNREADABLE
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


class Unreadable:
    """400 for a request whose body or query string the Lambda adapter could not read (triggers/http/wsgi.py says
    why). Inside Connexion's exception handling, so it answers as a problem."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get(UNREADABLE):
            raise BadRequestProblem(detail=scope[UNREADABLE])
        await self.app(scope, receive, send)


class RelativeRedirects:
    """Starlette answers a path with a trailing slash by a 307 to the path without it (docs/local-stage.md), at an
    absolute URL built from the Host header: whoever sends the request chooses the host the client is sent to. The
    Location keeps its path and query only."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_relative(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                headers = [(k, _relative(v) if k == b"location" else v) for k, v in message.get("headers", [])]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_relative)


def _relative(location: bytes) -> bytes:
    url = urlsplit(location.decode("latin-1"))
    # `//host/...` would be a URL of another host again.
    path = "/%2F" + url.path[2:] if url.path.startswith("//") else url.path
    return (path + (f"?{url.query}" if url.query else "")).encode("latin-1")


class ProblemCors(CORSMiddleware):
    """Starlette's CORS middleware, whose refusal of a preflight (an origin, method or header not allowed) is a
    problem like every other refusal, not text/plain. Its CORS headers stay: a browser reads the refusal only with
    them."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        refusal = problems.problem(400, f"{bytes(response.body).decode()}.")
        cors = {k: v for k, v in response.headers.items() if k.startswith("access-control-") or k == "vary"}
        return Response(refusal.body, 400, {**cors, **refusal.headers}, media_type="application/problem+json")


NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_FRAMING = (b"x-frame-options", b"DENY")
# Inline <script> and <style> elements without attributes: the ones a docs page's policy names by hash.
_INLINE = re.compile(rb"<(script|style)>(.*?)</\1>", re.S)


def docs_page_policy(page: bytes) -> bytes:
    """The Content-Security-Policy of a docs page: Swagger UI's own files, the inline script and style this page
    holds (its index page configures Swagger UI inline, with a spec URL that depends on the stage), images from
    its CSS's data: URLs, requests to this API only, and no framing."""
    sources = {b"script": [b"'self'"], b"style": [b"'self'"]}
    for tag, content in _INLINE.findall(page):
        sources[tag].append(b"'sha256-" + base64.b64encode(hashlib.sha256(content).digest()) + b"'")
    return b"; ".join(
        [
            b"default-src 'none'",
            b"script-src " + b" ".join(sources[b"script"]),
            b"style-src " + b" ".join(sources[b"style"]),
            b"img-src 'self' data:",
            b"connect-src 'self'",
            b"base-uri 'none'",
            b"form-action 'none'",
            b"frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    """`nosniff` on every answer: a browser must not take a body for another type than the one it is sent as. The
    docs UI's answers also refuse framing (clickjacking) and carry a Content-Security-Policy: docs_page_policy for
    its pages, nothing at all for the rest."""

    def __init__(self, app: ASGIApp, docs_paths: tuple[str, ...]):
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"][len(scope.get("root_path", "")) :].startswith(self.docs_paths)
        held: list[Message] = []  # a docs page's start and body, until the body is complete: its policy needs it

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), NOSNIFF]
                page = docs and Headers(raw=headers).get("content-type", "").startswith("text/html")
                if docs:
                    headers.append(NO_FRAMING)
                if docs and not page:
                    headers.append((b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"))
                message = {**message, "headers": headers}
                if page:
                    held.append(message)
                    return
            elif held:
                held.append(message)
                if message.get("more_body"):
                    return
                start, *parts = held
                body = b"".join(part.get("body", b"") for part in parts)
                start["headers"].append((b"content-security-policy", docs_page_policy(body)))
                await send(start)
                message = {"type": "http.response.body", "body": body}
            await send(message)

        await self.app(scope, receive, send_secured)
