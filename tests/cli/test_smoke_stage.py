"""scripts/smoke_stage.py, the deploy workflow's smoke run: against the Lambda handler (tests/conftest.py), its HTTP
requests turned into the API Gateway events a stage would get, so every step meets the real app."""

import io
import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from scripts import smoke_stage
from tests.support import invoke

STAGE_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/dev"


def through(handler, log: list | None = None):
    """A `send` that hands each request to the handler, as API Gateway would."""

    def send(method, url, headers, body):
        parts = urlsplit(url)
        assert parts.path.startswith("/dev/")
        path = parts.path.removeprefix("/dev")
        response = invoke(
            handler,
            method,
            path,
            body=body.decode() if body is not None else None,
            headers=headers,
            query=dict(parse_qsl(parts.query)) or None,
        )
        if log is not None:
            log.append((method, path, response.status))
        return response.status, response.headers, response.body.encode()

    return send


def test_the_lifecycle_passes_on_a_working_stage(lambda_handler, make_api_key, capsys):
    key, _ = make_api_key()
    log: list = []
    assert smoke_stage.main([STAGE_URL], env={"TRIGGERS_API_KEY": key}, send=through(lambda_handler, log)) == 0
    assert [status for *_, status in log] == [200, 200, 201, 201, 200, 200, 200, 200, 404, 401]
    out = capsys.readouterr().out
    assert out.count("ok  ") == 10
    assert "smoke: the event lifecycle works on" in out


def test_a_failing_step_stops_the_run_with_what_it_got(lambda_handler, make_api_key, capsys):
    key, _ = make_api_key()
    working = through(lambda_handler)

    def not_ready(method, url, headers, body):
        if url.endswith("/v1/health/ready"):
            problem = {"type": "/problems/service-unavailable", "status": 503}
            return 503, {"content-type": "application/problem+json"}, json.dumps(problem).encode()
        return working(method, url, headers, body)

    assert smoke_stage.main([STAGE_URL], env={"TRIGGERS_API_KEY": key}, send=not_ready) == 1
    captured = capsys.readouterr()
    assert "ok  GET /v1/health (200)" in captured.out
    assert "FAILED  GET /v1/health/ready: expected 200, got 503" in captured.err
    assert "POST" not in captured.out  # nothing after the failed step


def test_a_key_and_a_web_url_are_required(capsys):
    assert smoke_stage.main([STAGE_URL], env={}) == 2
    assert "TRIGGERS_API_KEY" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        smoke_stage.main(["file:///etc/passwd"], env={"TRIGGERS_API_KEY": "k"})
    assert exit_.value.code == 2


def test_it_speaks_http(capsys):
    """The real transport, against a port where nothing listens: a failure, said in one line."""
    assert smoke_stage.main(["http://127.0.0.1:9/dev"], env={"TRIGGERS_API_KEY": "k"}) == 1
    assert capsys.readouterr().err.startswith("FAILED  ")


def test_an_unreachable_stage_is_a_failure():
    def refused(method, url, headers, body):
        raise ConnectionRefusedError(111, "Connection refused")

    out = io.StringIO()
    smoke = smoke_stage.Smoke(STAGE_URL, "key", refused, out)
    try:
        smoke.run()
    except OSError as error:
        assert "refused" in str(error)
    assert smoke_stage.main([STAGE_URL], env={"TRIGGERS_API_KEY": "k"}, send=refused) == 1
