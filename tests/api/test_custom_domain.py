"""A custom domain with a base path mapping (api.example.com/triggers → the stage): API Gateway keeps the base path
in the event's `path` and hands the route in `pathParameters.proxy`. The seeds' deployment met a 404 here."""

from scripts.api_gateway_events import rest_event
from tests.support import Response, new_event


def on_custom_domain(method: str, route: str, base: str = "/triggers", **options) -> dict:
    """The event API Gateway sends for `https://api.example.com{base}{route}`."""
    event = rest_event(method, route, **options)
    event["path"] = base + route
    event["headers"]["Host"] = event["multiValueHeaders"]["Host"][0] = "api.example.com"
    event["requestContext"]["path"] = base + route
    event["requestContext"]["domainName"] = "api.example.com"
    return event


def send(lambda_handler, event: dict) -> Response:
    result = lambda_handler(event, None)
    return Response(int(result["statusCode"]), {k.lower(): v for k, v in result["headers"].items()}, result["body"])


def test_a_route_under_a_base_path_is_served(lambda_handler):
    assert send(lambda_handler, on_custom_domain("GET", "/v1/health")).status == 200


def test_links_keep_the_base_path(lambda_handler, make_api_key):
    key, _ = make_api_key()
    created = send(lambda_handler, on_custom_domain("POST", "/v1/events", body=new_event(), headers={"X-API-Key": key}))
    assert created.status == 201, created.body
    assert created.headers["location"] == f"/triggers/v1/events/{created.json['event_id']}"


def test_a_mapping_without_a_base_path_is_served_as_is(lambda_handler):
    assert send(lambda_handler, on_custom_domain("GET", "/v1/health", base="")).status == 200


def test_the_docs_ui_finds_its_spec_under_the_base_path(lambda_handler):
    page = send(lambda_handler, on_custom_domain("GET", "/v1/docs/index.html"))
    assert page.status == 200
    assert "/triggers/v1/openapi.json" in page.body
