"""What the adapter mends in aws-wsgi's environ and reads from the event itself, and how it drives the ASGI app."""

import io

import awsgi
import pytest

from triggers.http.wsgi import UNREADABLE, WsgiAdapter, mend_environ, readable


def environ(event, **extra):
    base = {"SERVER_NAME": "", "SERVER_PORT": "", "wsgi.url_scheme": "", "SCRIPT_NAME": "", "awsgi.event": event}
    base.update(extra)
    return base


def test_repeated_query_parameters_are_kept():
    env = environ({"multiValueQueryStringParameters": {"tag": ["a", "b"], "q": ["x y"]}}, QUERY_STRING="tag=b&q=x+y")
    mend_environ(env)
    assert env["QUERY_STRING"] == "tag=a&tag=b&q=x+y"


def test_missing_port_and_scheme_are_filled():
    env = environ({})
    mend_environ(env)
    assert env["SERVER_PORT"] == "80"
    assert env["wsgi.url_scheme"] == "http"
    https = environ({}, **{"wsgi.url_scheme": "https"})
    mend_environ(https)
    assert https["SERVER_PORT"] == "443"


@pytest.mark.parametrize(
    ("host", "expected"),
    [("abc123.execute-api.eu-west-1.amazonaws.com", "/prod"), ("api.example.com", ""), ("localhost:3000", "")],
)
def test_stage_prefix_only_on_execute_api_hosts(host, expected):
    env = environ({"requestContext": {"stage": "prod"}}, SERVER_NAME=host)
    mend_environ(env)
    assert env["SCRIPT_NAME"] == expected


def test_adapter_passes_body_and_returns_a_materialised_response():
    seen: dict[str, object] = {}

    async def app(scope, receive, send):
        message = await receive()
        seen.update(path=scope["path"], root_path=scope["root_path"], body=message["body"])
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x-a", b"1")]})
        await send({"type": "http.response.body", "body": b"he", "more_body": True})
        await send({"type": "http.response.body", "body": b"llo"})

    started: dict[str, object] = {}
    env = environ(
        {"requestContext": {"stage": "dev"}},
        REQUEST_METHOD="POST",
        PATH_INFO="/v1/x",
        SERVER_NAME="a.execute-api.us-east-1.amazonaws.com",
        QUERY_STRING="",
        CONTENT_LENGTH="3",
        **{"wsgi.input": io.BytesIO(b"abc")},
    )
    body = WsgiAdapter(app)(env, lambda status, headers: started.update(status=status, headers=headers))
    assert started == {"status": "201 Created", "headers": [("x-a", "1")]}
    assert body == [b"hello"]
    assert seen == {"path": "/dev/v1/x", "root_path": "/dev", "body": b"abc"}


def call_adapter(app, **extra):
    """Run the adapter once on a minimal environ; the start_response arguments and the body it returns."""
    started: dict[str, object] = {}
    env = environ({}, PATH_INFO="/v1/x", QUERY_STRING="", CONTENT_LENGTH="0", **{"wsgi.input": io.BytesIO(b"")})
    env.update(extra)
    body = WsgiAdapter(app)(env, lambda status, headers: started.update(status=status, headers=headers))
    return started, body


async def hello(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.mark.parametrize(
    ("environ_path", "scope_path"),
    [("/v1/caf\u00c3\u00a9", "/v1/café"), ("/v1/\u00ff", "/v1/\ufffd")],  # UTF-8 read as latin-1; not UTF-8
)
def test_a_wsgi_servers_path_reaches_the_app_decoded_as_utf_8(environ_path, scope_path):
    """A WSGI server gives PATH_INFO as latin-1 (PEP 3333); on Lambda aws-wsgi gives the event's text as it is."""
    seen = {}

    async def app(scope, receive, send):
        seen[scope["path"]] = scope["raw_path"]
        await hello(scope, receive, send)

    server = {"PATH_INFO": environ_path, "QUERY_STRING": "", "wsgi.input": io.BytesIO(b""), "SERVER_PORT": "80"}
    WsgiAdapter(app)({**server, "REQUEST_METHOD": "GET", "wsgi.url_scheme": "http"}, lambda status, headers: None)
    call_adapter(app, PATH_INFO="/v1/café", REQUEST_METHOD="GET")  # an API Gateway event's path
    assert seen == {scope_path: scope_path.encode(), "/v1/café": "/v1/café".encode()}


def test_head_is_answered_with_the_headers_of_get_and_no_body():
    started, body = call_adapter(hello, REQUEST_METHOD="HEAD")
    assert started == {"status": "200 OK", "headers": [("content-length", "5")]}
    assert body == [b""]
    assert call_adapter(hello, REQUEST_METHOD="GET")[1] == [b"hello"]


def test_an_events_headers_reach_the_app_as_the_client_named_them_and_as_utf_8():
    seen: dict[str, object] = {}

    async def app(scope, receive, send):
        seen["headers"] = scope["headers"]
        await hello(scope, receive, send)

    event = {"headers": {"X_API_KEY": "k", "Idempotency-Key": "ключ", "X-Note": "\ud800", "Content-Length": "99"}}
    # aws-wsgi's environ for the same event: names folded, values as given.
    call_adapter(app, REQUEST_METHOD="GET", HTTP_X_API_KEY="k", CONTENT_LENGTH="0", **{"awsgi.event": event})
    assert seen["headers"] == [
        (b"x_api_key", b"k"),
        (b"idempotency-key", "ключ".encode()),
        (b"x-note", b"\xed\xa0\x80"),
        (b"content-length", b"0"),
    ]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"body": "e30=", "isBase64Encoded": True}, None),
        ({"body": "{}"}, None),
        ({"body": None}, None),
        ({"body": "!!!!", "isBase64Encoded": True}, "not valid base64"),
        ({"body": "e30", "isBase64Encoded": True}, "not valid base64"),
        ({"body": "e3 0=", "isBase64Encoded": True}, "not valid base64"),  # aws-wsgi would drop the space
        ({"body": "{\ud800}"}, "body holds a lone UTF-16 surrogate"),
        ({"queryStringParameters": {"\udc00": "1"}}, "query string holds a lone UTF-16 surrogate"),
        ({"multiValueQueryStringParameters": {"q": ["a", "\udc00"]}}, "query string holds a lone UTF-16 surrogate"),
    ],
)
def test_an_event_is_read_strictly_and_an_unreadable_one_carries_the_reason(event, reason):
    read = readable({"httpMethod": "POST", "path": "/v1/events", "queryStringParameters": None, **event})
    if reason is None:
        assert read["body"] == (b"{}" if event["body"] else b"")
        assert UNREADABLE not in read
    else:
        assert reason in read[UNREADABLE]
        assert (read["body"], read["queryStringParameters"], read["multiValueQueryStringParameters"]) == (None,) * 3
        assert awsgi.environ(read, None)["wsgi.input"].read() == b""  # aws-wsgi reads it without raising
