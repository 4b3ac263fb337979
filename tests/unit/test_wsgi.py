"""What the adapter mends in aws-wsgi's environ, and how it drives the ASGI app."""

import io

import pytest

from triggers.http.wsgi import WsgiAdapter, mend_environ


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
