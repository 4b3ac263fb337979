"""Runs the ASGI app (Connexion) as a WSGI app for aws-wsgi, in the calling thread.

a2wsgi would do the translation, but it hands every request to an event loop in another thread and waits for it;
a Lambda container serves one request at a time, so a private loop driven in the calling thread does the same
work without the thread hop (see docs/performance.md). Each calling thread gets its own loop, so a threaded WSGI
server can call the adapter from many threads at once.

It also mends what aws-wsgi leaves out of the WSGI environ for API Gateway REST (payload v1) events, and takes
from the event itself what aws-wsgi's CGI-style environ would change: the body and the headers.
"""

import asyncio
import base64
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

import awsgi
from starlette.types import ASGIApp

# Swagger UI's images are binary; API Gateway needs them base64-encoded.
BINARY_TYPES = {"image/png", "image/x-icon"}
# Where an event that is no readable request carries the reason to the app, which answers it with a 400 problem
# (triggers/http/middleware.py, Unreadable).
UNREADABLE = "triggers.unreadable"


def lambda_handler(app: ASGIApp) -> Callable[[dict, Any], dict]:
    """The Lambda handler of an app: API Gateway REST events (payload v1) → aws-wsgi → this adapter → the app."""
    wsgi_app = WsgiAdapter(app)

    def handler(event: dict, context: Any) -> dict:
        return awsgi.response(wsgi_app, readable(event), context, base64_content_types=BINARY_TYPES)

    return handler


def readable(event: dict) -> dict:
    """The event with its body as bytes; or, when its body or query string cannot be read, without them and with
    the reason under UNREADABLE.

    aws-wsgi raises on garbage base64 and on lone surrogates (which no UTF-8 can hold) in the body or the query
    string, and a handler that raises is a 502 from API Gateway. It also decodes base64 leniently, dropping
    characters it does not know; this decodes strictly, and aws-wsgi takes a bytes body as it is.
    """
    single = event.get("queryStringParameters") or {}
    multi = event.get("multiValueQueryStringParameters") or {}
    try:
        "".join([*single, *single.values(), *multi, *(value for values in multi.values() for value in values)]).encode()
    except UnicodeEncodeError:
        return _unreadable(event, "The query string holds a lone UTF-16 surrogate (\\uD800-\\uDFFF).")
    body = event.get("body") or ""
    try:
        raw = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode()
    except UnicodeEncodeError:
        return _unreadable(event, "The body holds a lone UTF-16 surrogate (\\uD800-\\uDFFF).")
    except ValueError:  # binascii.Error
        return _unreadable(event, "The body is marked as base64 but is not valid base64.")
    return {**event, "body": raw, "isBase64Encoded": False}


def _unreadable(event: dict, reason: str) -> dict:
    unread = {"body": None, "queryStringParameters": None, "multiValueQueryStringParameters": None}
    return {**event, **unread, "isBase64Encoded": False, UNREADABLE: reason}


def mend_environ(environ: dict) -> None:
    """Fill in what aws-wsgi drops or leaves empty."""
    event = environ.get("awsgi.event") or {}
    # aws-wsgi keeps one value per query parameter; the multi-value map has them all.
    multi = event.get("multiValueQueryStringParameters")
    if multi:
        environ["QUERY_STRING"] = urlencode(multi, doseq=True)
    # The client's address is the one API Gateway saw the request come from. aws-wsgi takes the first address of
    # X-Forwarded-For, which is whatever the client wrote there (API Gateway appends to it): anyone could be anyone
    # to the per-address rate limit (triggers/auth/rate_limits.py).
    source_ip = ((event.get("requestContext") or {}).get("identity") or {}).get("sourceIp")
    if source_ip:
        environ["REMOTE_ADDR"] = source_ip
    # API Gateway sends X-Forwarded-Port, serverless-offline does not; servers need a port either way.
    if not environ.get("SERVER_PORT"):
        environ["SERVER_PORT"] = "443" if environ.get("wsgi.url_scheme") == "https" else "80"
    environ["wsgi.url_scheme"] = environ.get("wsgi.url_scheme") or "http"
    # A custom domain's base path mapping (api.example.com/triggers → this stage) leaves the base path in `path`:
    # the route is what the {proxy+} resource matched, and what stands before it is where the API is mounted.
    proxy = (event.get("pathParameters") or {}).get("proxy")
    route = "/" + proxy if proxy is not None else "/" if event.get("resource") == "/" else None
    path = environ.get("PATH_INFO", "")
    base = ""
    if route == "/":
        base = path.rstrip("/")
    elif route is not None and path.endswith(route):
        base = path[: -len(route)]
    if base:
        environ["SCRIPT_NAME"], environ["PATH_INFO"] = base, route
    # On an execute-api host the stage is a path prefix (/dev/v1/...) that API Gateway strips from `path`;
    # links and the docs UI need it back. Custom domains map the stage away, so they get no prefix.
    stage = (event.get("requestContext") or {}).get("stage")
    if not base and stage and ".execute-api." in environ.get("SERVER_NAME", ""):
        environ["SCRIPT_NAME"] = f"/{stage}"


class WsgiAdapter:
    """A WSGI callable that answers each request by running the ASGI app to completion on its own loop."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.loops = threading.local()

    def _loop(self) -> asyncio.AbstractEventLoop:
        loop = getattr(self.loops, "loop", None)
        if loop is None:
            loop = self.loops.loop = asyncio.new_event_loop()
        return loop

    def __call__(self, environ, start_response):
        mend_environ(environ)
        status, headers, body = self._loop().run_until_complete(self._call(environ))
        start_response(status, headers)
        # A materialised body: aws-wsgi reads the status before it iterates the body. The answer to HEAD is the
        # answer to GET without its body (RFC 9110, 9.3.2): the app sends the body, and servers drop it; here this
        # adapter is the server.
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]

    async def _call(self, environ):
        request_body = environ["wsgi.input"].read()
        root_path, path_info = environ.get("SCRIPT_NAME", ""), environ["PATH_INFO"]
        if "awsgi.event" not in environ:
            # A WSGI server's paths are the bytes received read as latin-1 (PEP 3333), aws-wsgi's the event's text;
            # ASGI's are text decoded as UTF-8, so that a refusal quotes `é`, not `Ã©`.
            root_path, path_info = (_utf8(value) for value in (root_path, path_info))
        path = root_path + path_info
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": environ["REQUEST_METHOD"],
            "scheme": environ["wsgi.url_scheme"],
            # ASGI's path includes root_path (Starlette routes on what follows it); WSGI's PATH_INFO does not.
            "root_path": root_path,
            "path": path,
            "raw_path": path.encode("utf-8", "surrogatepass"),
            "query_string": environ.get("QUERY_STRING", "").encode("latin-1", "replace"),
            "headers": _asgi_headers(environ),
            "server": (environ.get("SERVER_NAME") or "localhost", int(environ["SERVER_PORT"])),
            "client": (environ.get("REMOTE_ADDR", "127.0.0.1"), 0),
            "extensions": {},
            "aws.event": environ.get("awsgi.event"),
            "aws.context": environ.get("awsgi.context"),
            UNREADABLE: (environ.get("awsgi.event") or {}).get(UNREADABLE),
        }
        status = 500
        response_headers: list[tuple[bytes, bytes]] = []
        body: list[bytes] = []
        sent = False

        async def receive():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": request_body, "more_body": False}

        async def send(message):
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = message.get("headers", [])
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        await self.app(scope, receive, send)
        headers = [(_wsgi_name(name.decode("latin-1")), value.decode("latin-1")) for name, value in response_headers]
        return f"{status} {_reason(status)}", headers, b"".join(body)


def _utf8(latin1: str) -> str:
    return latin1.encode("latin-1").decode("utf-8", "replace")


def _wsgi_name(name: str) -> str:
    """ASGI names headers in lower case. aws-wsgi picks the answers to base64-encode (BINARY_TYPES) by the value of
    `Content-Type`, looked up by that exact name: under `content-type` it found none, and decoding a PNG as UTF-8 made
    the handler raise (a 502 for every favicon of the docs UI)."""
    return "Content-Type" if name == "content-type" else name


def _asgi_headers(environ: dict) -> list[tuple[bytes, bytes]]:
    event = environ.get("awsgi.event")
    if event is not None:
        return _event_headers(event, environ)
    # A WSGI server's environ: values are latin-1 strings of the bytes received (PEP 3333).
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.replace("_", "-").lower()
        else:
            continue
        if name in ("content-type", "content-length") and key.startswith("HTTP_"):
            continue  # aws-wsgi puts these in both places; keep the CGI ones
        headers.append((name.encode("latin-1"), str(value).encode("latin-1", "replace")))
    return headers


def _event_headers(event: dict, environ: dict) -> list[tuple[bytes, bytes]]:
    """The headers of an API Gateway event as the client named them, values as UTF-8; the body's length as read.

    aws-wsgi's environ would fold `X_API_KEY` into `X-API-Key`: API Gateway passes such names on, while nginx and
    most proxies drop them as ambiguous. Kept as sent, they are headers of other names, which nothing here reads:
    ignored, as behind those proxies (a 400 would also refuse requests that only pass through a client or proxy
    adding some underscored header of its own). And a latin-1 round trip would turn every other character into
    `?`, so that two different Idempotency-Keys were one; UTF-8 keeps them apart and non-ASCII, for the spec's
    patterns to refuse (a lone surrogate passes as its UTF-16 code unit, non-ASCII too).
    """
    headers = [
        (name.lower().encode("utf-8", "surrogatepass"), str(value).encode("utf-8", "surrogatepass"))
        for name, value in (event.get("headers") or {}).items()
        if name.lower() != "content-length"
    ]
    headers.append((b"content-length", environ.get("CONTENT_LENGTH", "0").encode()))
    return headers


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
