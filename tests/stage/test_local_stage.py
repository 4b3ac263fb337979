"""The local stage answers as a deployed stage would, where serverless-offline differs from API Gateway.

Each test names the difference it covers (docs/local-stage.md lists them all).
"""

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

from stage_support import RATE_LIMIT_PER_MINUTE, request

from scripts import local_stage

NEW_EVENT = {"source": "billing", "event_type": "invoice.paid", "payload": {"invoice_id": "inv_1001"}}


def post_event(stage, key: str, body: dict | None = None):
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    return request("POST", stage.url + "/v1/events", headers=headers, body=json.dumps(body or NEW_EVENT).encode())


def test_the_dev_key_belongs_to_tenant_dev_and_the_peer_key_to_another(stage):
    created = post_event(stage, stage.dev_key)
    assert created.status == 201
    event_url = stage.url + "/v1/events/" + created.json["event_id"]
    assert request("GET", event_url, headers={"X-API-Key": stage.dev_key}).status == 200
    assert request("GET", event_url, headers={"X-API-Key": stage.peer_key}).status == 404


def test_a_stage_param_given_on_the_command_line_reaches_the_function(stage):
    """`--rate-limit-per-minute` becomes `--param rateLimitPerMinute=...`, serverless.yml's RATE_LIMIT_PER_MINUTE."""
    answer = request("GET", stage.url + "/v1/inbox", headers={"X-API-Key": stage.dev_key})
    assert answer.status == 200
    assert answer.headers["ratelimit-limit"] == str(RATE_LIMIT_PER_MINUTE)


def test_location_resolves_against_the_stage_url(stage, make_key):
    """No stage prefix in the URL (--noPrependStageInUrl), so the app's root-relative Location is right as it is."""
    key = make_key()
    created = post_event(stage, key)
    assert created.status == 201
    location = created.headers["location"]
    assert location == "/v1/events/" + created.json["event_id"]
    event = request("GET", urljoin(stage.url + "/", location), headers={"X-API-Key": key})
    assert event.status == 200
    assert event.json["event_id"] == created.json["event_id"]


def test_the_docs_ui_loads_and_points_at_the_served_spec(stage):
    """serverless-offline strips trailing slashes: /v1/docs/ reaches the app as /v1/docs, whose answer is a redirect
    to /v1/docs/. Followed by a browser that is a loop, unless the redirect goes where no slash gets stripped."""
    url, seen = stage.docs_url, []
    for _ in range(5):
        answer = request("GET", url)
        if answer.status not in (301, 302, 303, 307, 308):
            break
        seen.append(url)
        url = urljoin(url, answer.headers["location"])
        assert url not in seen, f"redirect loop at {url}"
    assert answer.status == 200, f"{url} answered {answer.status}"
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.body.decode()
    # The page's own assets are relative to the page's URL; the spec's URL is the app's.
    assert request("GET", urljoin(url, "./swagger-ui-bundle.js")).status == 200
    found = re.search(r'url: "([^"]+)"', page)
    assert found, "the docs page names the spec's URL"
    spec_url = found.group(1)
    spec = request("GET", urljoin(url, spec_url))
    assert spec.status == 200
    assert spec.json["info"]["title"] == "Triggers API"


def test_the_spec_is_served_at_the_stage_url(stage):
    spec = request("GET", stage.url + "/v1/openapi.json")
    assert spec.status == 200
    assert "/v1/events" in spec.json["paths"]


def test_a_cors_preflight_is_answered_by_the_app(stage):
    """The http events declare no `cors`, so serverless-offline routes OPTIONS to the function, as API Gateway's
    ANY method does. (It still sets the status to 200 and adds Access-Control-Allow-Credentials: true.)"""
    headers = {
        "Origin": "https://example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key,content-type,idempotency-key",
    }
    answer = request("OPTIONS", stage.url + "/v1/events", headers=headers)
    assert answer.status == 200
    assert answer.headers["access-control-max-age"] == "3600"  # the app's; offline's own would be 600
    allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {"x-api-key", "content-type", "idempotency-key"} <= allowed
    assert "POST" in answer.headers["access-control-allow-methods"]


def test_a_preflight_for_a_header_the_app_does_not_allow_is_not_granted(stage):
    """Were offline answering, it would echo any requested header back as allowed."""
    headers = {
        "Origin": "https://example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-not-allowed",
    }
    answer = request("OPTIONS", stage.url + "/v1/events", headers=headers)
    allowed = answer.headers.get("access-control-allow-headers", "").lower()
    assert "x-not-allowed" not in allowed


def test_concurrent_requests_each_get_a_worker_and_all_succeed(stage, make_key):
    """serverless-offline starts a Python worker per concurrent request; moto serves one request at a time."""
    key = make_key()
    bodies = [{**NEW_EVENT, "payload": {"n": n}} for n in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda body: post_event(stage, key, body), bodies))
    assert [answer.status for answer in answers] == [201] * 4
    assert len({answer.json["event_id"] for answer in answers}) == 4


def test_request_ids_are_echoed_through_offline(stage):
    request_id = f"stage-{uuid.uuid4()}"
    answer = request("GET", stage.url + "/v1/health", headers={"X-Request-ID": request_id})
    assert answer.status == 200
    assert answer.headers["x-request-id"] == request_id
    assert answer.json["request_id"] == request_id


def test_another_tenant_can_neither_acknowledge_nor_delete_an_event(stage, make_key):
    """What schemathesis's object_level_authorization cannot try: it replays reads only, never writes."""
    owner, stranger = make_key("owner"), make_key("stranger")
    event_id = post_event(stage, owner).json["event_id"]
    event_url = f"{stage.url}/v1/events/{event_id}"

    assert request("POST", event_url + "/ack", headers={"X-API-Key": stranger}).status == 404
    assert request("DELETE", event_url, headers={"X-API-Key": stranger}).status == 200  # idempotent: no effect
    assert request("GET", stage.url + "/v1/inbox", headers={"X-API-Key": stranger}).json["events"] == []

    event = request("GET", event_url, headers={"X-API-Key": owner})
    assert event.status == 200
    assert event.json["status"] == "pending"


def test_the_stage_environment_drops_every_setting_the_app_reads():
    """A setting left in the shell (say VALIDATE_RESPONSES from a test run) must not change the local stage."""
    settings_source = (local_stage.ROOT / "triggers" / "settings.py").read_text()
    read = set(re.findall(r'env\.get\("([A-Z0-9_]+)"', settings_source))
    assert read, "triggers/settings.py no longer reads env.get(...): update this test"
    assert read == local_stage.APP_SETTINGS
