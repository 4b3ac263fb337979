"""The docs UI in a real headless browser, behind a stage prefix, as a user of a deployed stage meets it.

A small HTTP server on 127.0.0.1 plays API Gateway's part for stage `dev`: it answers `/dev/...` by turning each
browser request into the REST API (payload v1) event API Gateway would send (built from the stored
tests/events/rest_api_event.json: an execute-api host, `requestContext.stage` "dev", the path without the stage)
and calling the Lambda handler with it, one invocation at a time as one container. The browser part is
tests/browser/docs_ui.mjs: headless Chromium from @sparticuz/chromium, driven by puppeteer-core, run on the Node
24 of .venv (browser_support.py).
"""

import base64
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from scripts.api_gateway_events import rest_event
from tests.browser.browser_support import run_browser
from triggers.http.app import load_spec

STAGE = "dev"
# Hop-by-hop and framing headers: API Gateway does not hand these to the function as the client sent them.
NOT_FORWARDED = {"host", "connection", "keep-alive", "content-length", "transfer-encoding"}


class ApiGateway:
    """http://127.0.0.1:<port>/<stage>/... → the Lambda handler, as API Gateway's `/{proxy+}` resource calls it.

    Anything outside the stage is API Gateway's own 403. A handler that raises is API Gateway's 502; every request
    and its status is kept in `seen`, and a handler's exception in `errors`."""

    def __init__(self, handler, stage: str = STAGE):
        self.seen: list[tuple[str, str, int]] = []
        self.errors: list[str] = []
        invoke_lock = threading.Lock()  # one container: one invocation at a time
        gateway = self

        class Request(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30  # a connection Chromium opened ahead of time and never used must not hold a thread forever

            def forward(self) -> None:
                url = urlsplit(self.path)
                prefix = f"/{stage}"
                if url.path != prefix and not url.path.startswith(prefix + "/"):
                    self.answer(403, {"content-type": "application/json"}, b'{"message":"Forbidden"}')
                    return
                route = url.path[len(prefix) :] or "/"
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                event = gateway_event(self.command, route, url.query, self.headers.items(), body, stage)
                context = SimpleNamespace(aws_request_id=str(uuid.uuid4()), function_name=f"triggers-api-{stage}-api")
                try:
                    with invoke_lock:
                        result = handler(event, context)
                except Exception as exc:  # reported to the test, answered as API Gateway answers it
                    gateway.errors.append(f"{self.command} {self.path}: {type(exc).__name__}: {exc}")
                    self.answer(502, {"content-type": "application/json"}, b'{"message": "Internal server error"}')
                    return
                payload = result.get("body") or ""
                content = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
                headers = {name.lower(): value for name, value in (result.get("headers") or {}).items()}
                self.answer(int(result["statusCode"]), headers, content)

            def answer(self, status: int, headers: dict, content: bytes) -> None:
                gateway.seen.append((self.command, self.path, status))
                self.send_response(status)
                for name, value in headers.items():
                    if name not in NOT_FORWARDED:
                        self.send_header(name, value)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = forward

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Request)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, route: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{STAGE}{route}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def gateway_event(method: str, route: str, query: str, headers, body: bytes | None, stage: str) -> dict:
    """The event API Gateway sends for a request to `/<stage><route>?<query>` on the execute-api host."""
    forwarded = {name: value for name, value in headers if name.lower() not in NOT_FORWARDED}
    parameters = parse_qs(query, keep_blank_values=True)
    text = None
    if body is not None:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            text = None
    event = rest_event(method, route, body=text, headers=forwarded, query=parameters or None, stage=stage)
    if body is not None and text is None:
        event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    if route == "/":  # the API's root is its own resource, not {proxy+}
        event.update(resource="/", pathParameters=None)
        event["requestContext"]["resourcePath"] = "/"
    return event


def operations(spec: dict) -> dict[str, tuple[str, str, list[str]]]:
    """operationId → (METHOD, path, tags) for every operation of the spec."""
    found = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                found[operation["operationId"]] = (method.upper(), path, operation.get("tags") or ["default"])
    return found


@pytest.fixture
def gateway(lambda_handler):
    """The API of one container, behind the stand-in for API Gateway."""
    running = ApiGateway(lambda_handler)
    yield running
    running.close()


def test_the_docs_ui_lists_every_operation_and_tries_health_behind_the_stage_prefix(gateway):
    spec = load_spec()
    expected = operations(spec)
    (health,) = [op for op, (method, path, _) in expected.items() if (method, path) == ("GET", "/v1/health")]

    report, seconds = run_browser("docs_ui.mjs", gateway.url("/v1/docs"), health)
    print(f"docs UI in {report['browser']}: {seconds:.1f} s, {report['timings_ms']}")

    # The page: reached through the redirect to index.html, under the stage, with its spec from under the stage.
    assert report["final_url"] == gateway.url("/v1/docs/index.html")
    assert ("GET", f"/{STAGE}/v1/openapi.json", 200) in gateway.seen
    # Every operation of the spec, and no other, each under its tags.
    shown = {(block["method"], block["path"]) for block in report["operations"]}
    assert shown == {(method, path) for method, path, _ in expected.values()}
    ids = {block["id"] for block in report["operations"]}
    assert ids == {f"operations-{tag}-{op}" for op, (_, _, tags) in expected.items() for tag in tags}
    # Its icons, binary answers: API Gateway hands them over as bytes only when the function base64-encodes them.
    assert report["icons"] and all(icon["width"] > 0 for icon in report["icons"]), report["icons"]
    # "Try it out" on health went to the API under the stage prefix and got its 200.
    assert report["try_it_out"]["status"] == "200", report["try_it_out"]
    assert report["try_it_out"]["request_url"].endswith(f"/{STAGE}/v1/health"), report["try_it_out"]
    assert json.loads(report["try_it_out"]["body"])["status"] == "ok"
    # The page ran whole, within its own Content-Security-Policy, from this origin alone.
    assert report["csp_violations"] == []
    assert report["page_errors"] == [] and report["console_errors"] == []
    assert report["outside_requests"] == [] and report["failed_requests"] == []
    assert gateway.errors == []
    assert all(status < 400 for _, _, status in gateway.seen), gateway.seen
