"""HTTP itself: redirects, HEAD, refused CORS preflights, and the security headers of every answer."""

import base64
import hashlib
import re

import pytest

from tests.support import assert_problem, handler_for, invoke, new_event, stage_settings


@pytest.mark.parametrize(
    ("path", "query", "host", "location"),
    [
        ("/v1/health/", None, "evil.example", "/v1/health"),
        ("/v1/inbox/", {"limit": "5"}, "evil.example", "/v1/inbox?limit=5"),
        ("/v1/health/", None, "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com", "/dev/v1/health"),
    ],
)
def test_a_trailing_slash_redirects_to_a_relative_location(call, path, query, host, location):
    """The redirect once named the Host header's host: anyone could send a client elsewhere with it."""
    response = call("GET", path, query=query, headers={"Host": host})
    assert response.status == 307
    assert response.headers["location"] == location


@pytest.mark.parametrize("path", ["/v1/health", "/v1/inbox", "/v1/openapi.json", "/v1/docs/index.html", "/v1/nowhere"])
def test_head_answers_as_get_without_a_body(call, make_api_key, path):
    key, _ = make_api_key()
    get, head = call("GET", path, key=key), call("HEAD", path, key=key)
    assert head.status == get.status
    assert head.headers["content-type"] == get.headers["content-type"]
    assert get.body
    assert head.body == ""


@pytest.mark.parametrize(
    "asked",
    [
        {"Access-Control-Request-Method": "PUT"},
        {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-not-allowed"},
    ],
)
def test_a_refused_preflight_is_a_problem(call, asked):
    response = call("OPTIONS", "/v1/events", headers={"Origin": "https://app.example.com", **asked})
    problem = assert_problem(response, 400, "/problems/bad-request")
    assert problem["detail"].startswith("Disallowed CORS")


def test_a_preflight_from_a_refused_origin_is_a_problem_without_allow_origin(moto_endpoint, dynamodb_client):
    handler = handler_for(stage_settings(moto_endpoint, CORS_ORIGINS="https://app.example.com"), dynamodb_client)
    headers = {"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"}
    response = invoke(handler, "OPTIONS", "/v1/events", headers=headers)
    assert_problem(response, 400)
    assert "access-control-allow-origin" not in response.headers


def test_every_answer_says_nosniff(call, make_api_key):
    key, _ = make_api_key()
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}
    answers = [
        call("GET", "/v1/health"),
        call("POST", "/v1/events", key=key, body=new_event()),
        call("GET", "/v1/inbox"),
        call("GET", "/v1/nowhere"),
        call("PUT", "/v1/inbox", key=key),
        call("OPTIONS", "/v1/events", headers=preflight),
        call("OPTIONS", "/v1/events", headers={**preflight, "Access-Control-Request-Method": "PUT"}),
        call("GET", "/v1/health/"),
        call("GET", "/v1/docs"),
        call("GET", "/v1/docs/"),
        call("GET", "/v1/docs/swagger-ui-bundle.js"),
        call("GET", "/v1/openapi.json"),
    ]
    assert {answer.status for answer in answers} == {200, 201, 307, 400, 401, 404, 405}
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff"


def csp(response) -> dict[str, set[str]]:
    directives = (directive.split() for directive in response.headers["content-security-policy"].split(";"))
    return {name: set(values) for name, *values in directives}


def sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


@pytest.mark.parametrize("path", ["/v1/docs/", "/v1/docs/index.html", "/v1/docs/oauth2-redirect.html"])
def test_a_docs_page_runs_only_its_own_scripts_and_cannot_be_framed(call, path):
    page = call("GET", path)
    assert page.status == 200
    assert page.headers["x-frame-options"] == "DENY"
    policy = csp(page)
    assert policy["frame-ancestors"] == {"'none'"}
    assert policy["default-src"] == {"'none'"}
    assert "'unsafe-inline'" not in set().union(*policy.values())
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        inline = re.findall(rf"<{tag}>(.*?)</{tag}>", page.body, re.S)
        assert policy[directive] == {"'self'", *map(sha256, inline)}


@pytest.mark.parametrize(
    "path", ["/v1/docs", "/v1/docs/swagger-ui.css", "/v1/docs/swagger-ui-bundle.js", "/v1/openapi.json"]
)
def test_every_docs_answer_forbids_framing(call, path):
    answer = call("GET", path)
    assert answer.headers["x-frame-options"] == "DENY"
    assert csp(answer)["frame-ancestors"] == {"'none'"}
