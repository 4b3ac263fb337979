"""Inputs that once crashed or silently changed: each answers 400, or round-trips exactly."""

import base64
import json

import pytest

from tests.support import Response, assert_problem, rest_event


@pytest.fixture
def post_raw(lambda_handler, make_api_key):
    """post_raw(body bytes): POST /v1/events with exactly those bytes; `post_raw.key` is the key it sends."""
    key, _ = make_api_key()

    def post(raw: bytes, content_type="application/json"):
        event = rest_event("POST", "/v1/events", headers={"X-API-Key": key, "Content-Type": content_type})
        event["body"] = base64.b64encode(raw).decode()
        event["isBase64Encoded"] = True
        result = lambda_handler(event, None)
        return Response(int(result["statusCode"]), {k.lower(): v for k, v in result["headers"].items()}, result["body"])

    post.key = key  # type: ignore[attr-defined]
    return post


def envelope(payload_json: str) -> bytes:
    return f'{{"source":"s","event_type":"t","payload":{payload_json}}}'.encode()


@pytest.mark.parametrize(
    "raw",
    [
        b"m\xffH\xfe\x01\xc38^",  # not UTF-8
        b"",  # empty
        b"{",  # truncated
        b"[]",  # not an object
        b"null",
        envelope("[" * 10_000 + "]" * 10_000),
        envelope('{"a":' * 10_000 + "1" + "}" * 10_000),
        envelope('{"n": NaN}'),
        envelope('{"n": Infinity}'),
        envelope('{"n": -Infinity}'),
        envelope('{"n": 1.00000000000000000001}'),
        envelope('{"n": 1e400}'),
        envelope('{"s": "\\ud800"}'),  # a lone surrogate
        envelope('{"s": "\\udc00x"}'),
    ],
)
def test_rejected_with_400(post_raw, raw):
    assert_problem(post_raw(raw), 400)


@pytest.mark.parametrize(
    "payload_json",
    [
        '{"big": 123456789012345678901234567890123456789012345678901234567890}',
        '{"f": 0.1, "g": -2.5e-300, "h": 1.7976931348623157e308}',
        '{"nul": "a\\u0000b", "pair": "\\ud83d\\ude00", "accents": "\\u00e9t\\u00e9"}',
        '{"deep": ' + "[" * 200 + "]" * 200 + "}",
        '{"": {"": ""}, "empty": {}, "list": []}',
    ],
)
def test_round_trips_exactly(post_raw, call, payload_json):
    created = post_raw(envelope(payload_json))
    assert created.status == 201, created.body
    stored = call("GET", f"/v1/events/{created.json['event_id']}", key=post_raw.key).json["payload"]
    assert stored == json.loads(payload_json)
    assert json.dumps(stored, sort_keys=True) == json.dumps(json.loads(payload_json), sort_keys=True)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(post_raw, content_type):
    assert_problem(post_raw(envelope("{}"), content_type), 415)


@pytest.mark.parametrize("content_type", ["Application/Json", "APPLICATION/JSON; charset=utf-8"])
def test_a_json_media_type_in_any_case_is_validated(post_raw, content_type):
    """Media types are case-insensitive: the body is validated (400), never handed on unchecked."""
    status = post_raw(b'{"source": "s", "event_type": "t", "payload": "not an object"}', content_type).status
    assert status == 400
    assert post_raw(envelope('{"n": 1}'), content_type).status == 201


def test_a_json_body_without_content_type_is_read_as_json(lambda_handler, make_api_key):
    key, _ = make_api_key()
    event = rest_event("POST", "/v1/events", headers={"X-API-Key": key})
    event["body"] = envelope('{"n": 2}').decode()
    assert lambda_handler(event, None)["statusCode"] == "201"
    event["body"] = '{"source": "s"}'
    assert lambda_handler(event, None)["statusCode"] == "400"


def test_a_null_or_missing_body_is_400(post_raw, call, make_api_key):
    assert_problem(post_raw(b"null"), 400)
    key, _ = make_api_key()
    subscription = call("POST", "/v1/subscriptions", key=key, body={"name": "n"}).json["subscription_id"]
    assert_problem(call("POST", f"/v1/subscriptions/{subscription}/receive", key=key, body="null"), 400)
    assert_problem(call("POST", f"/v1/subscriptions/{subscription}/receive", key=key), 400)
    assert call("POST", f"/v1/subscriptions/{subscription}/receive", key=key, body={}).status == 200  # the defaults
