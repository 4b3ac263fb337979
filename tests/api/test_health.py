"""Health, readiness, request ids, CORS and the docs behind a stage prefix."""

import base64
import re
import uuid

import pytest

from tests.support import assert_problem, handler_for, invoke, rest_event, stage_settings
from triggers import __version__


def test_health(call):
    response = call("GET", "/v1/health")
    assert response.status == 200
    body = response.json
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert body["time"].endswith("Z")


def test_readiness_checks_dynamodb(call):
    response = call("GET", "/v1/health/ready")
    assert response.status == 200
    assert response.json["status"] == "ready"


def test_readiness_is_503_when_dynamodb_is_unreachable():
    # The discard port: nothing listens.
    settings = stage_settings("http://127.0.0.1:9", DYNAMODB_MAX_ATTEMPTS="1", DYNAMODB_TIMEOUT_SECONDS="0.5")
    response = invoke(handler_for(settings), "GET", "/v1/health/ready")
    assert_problem(response, 503, "/problems/service-unavailable")
    assert response.headers["retry-after"] == "1"


def test_sane_request_id_is_echoed(call):
    response = call("GET", "/v1/health", headers={"X-Request-ID": "client-trace-0001"})
    assert response.headers["x-request-id"] == "client-trace-0001"
    assert response.json["request_id"] == "client-trace-0001"


@pytest.mark.parametrize("sent", ["", "has space", "x" * 129, "tab\there", "ünicode"])
def test_insane_request_id_is_replaced_by_a_uuid(call, sent):
    response = call("GET", "/v1/health", headers={"X-Request-ID": sent})
    assert uuid.UUID(response.headers["x-request-id"]).version == 4
    assert response.json["request_id"] == response.headers["x-request-id"]


def test_request_id_is_on_errors_too(call):
    response = call("GET", "/v1/no-such-route", headers={"X-Request-ID": "trace-404"})
    problem = assert_problem(response, 404)
    assert problem["request_id"] == "trace-404"


def test_cors_preflight_needs_no_key(call):
    response = call(
        "OPTIONS",
        "/v1/events",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key,idempotency-key,x-request-id",
        },
    )
    assert response.status == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-max-age"] == "3600"
    # PATCH: the web console (console/) pauses and resumes subscriptions from another origin.
    for method in ("GET", "POST", "PATCH", "DELETE", "OPTIONS"):
        assert method in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    for header in ("content-type", "x-api-key", "x-request-id", "idempotency-key"):
        assert header in allowed


def test_cors_headers_on_simple_requests(call):
    response = call("GET", "/v1/health", headers={"Origin": "https://app.example.com"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


def test_docs_work_behind_the_stage_prefix(call):
    spec = call("GET", "/v1/openapi.json").json
    assert spec["servers"][0]["url"] == "/dev"
    ui = call("GET", "/v1/docs/")
    assert ui.status == 200
    assert 'url: "/dev/v1/openapi.json"' in ui.body
    redirect = call("GET", "/v1/docs")
    assert redirect.status in (301, 302, 307, 308)
    assert redirect.headers["location"] == "/dev/v1/docs/index.html"


def test_docs_on_a_custom_domain_have_no_prefix(call):
    spec = call("GET", "/v1/openapi.json", headers={"Host": "api.example.com"}).json
    assert spec["servers"][0]["url"] in ("", "/")


def test_static_docs_assets_are_served(call):
    css = call("GET", "/v1/docs/swagger-ui.css")
    assert css.status == 200
    assert re.search(r"swagger-ui", css.body)


@pytest.mark.parametrize("name", ["favicon-16x16.png", "favicon-32x32.png"])
def test_docs_images_reach_api_gateway_base64_encoded(lambda_handler, name):
    """API Gateway turns an answer marked isBase64Encoded back into bytes (binaryMediaTypes); the handler raised on
    these until the adapter named Content-Type as aws-wsgi looks it up (the browser test found it)."""
    result = lambda_handler(rest_event("GET", f"/v1/docs/{name}", headers={"Accept": "image/png"}), None)
    assert result["statusCode"] == "200"
    assert result["isBase64Encoded"] is True
    assert base64.b64decode(result["body"]).startswith(b"\x89PNG\r\n\x1a\n")


def test_restricted_origins_allow_only_those(moto_endpoint, dynamodb_client):
    handler = handler_for(stage_settings(moto_endpoint, CORS_ORIGINS="https://app.example.com"), dynamodb_client)

    def preflight(origin):
        headers = {"Origin": origin, "Access-Control-Request-Method": "POST"}
        return handler(rest_event("OPTIONS", "/v1/events", headers=headers), None)

    def simple(origin):
        return handler(rest_event("GET", "/v1/health", headers={"Origin": origin}), None)

    allowed = preflight("https://app.example.com")
    assert allowed["headers"]["access-control-allow-origin"] == "https://app.example.com"
    for response in (preflight("https://evil.example.net"), simple("https://evil.example.net")):
        assert "access-control-allow-origin" not in {name.lower() for name in response["headers"]}
    assert simple("https://app.example.com")["headers"]["access-control-allow-origin"] == "https://app.example.com"
