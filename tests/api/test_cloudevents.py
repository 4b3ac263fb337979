"""CloudEvents 1.0 over HTTP, in structured, binary and batched mode: requests built and answers read with the
`cloudevents` SDK, never with our own code."""

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import HTTPMessage, from_http_event, to_binary_event, to_structured_event
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from tests.support import assert_problem, unique

SOURCE = "https://billing.example.com/invoices?region=eu"


def cloud_event(data=None, **attributes) -> CloudEvent:
    return CloudEvent(
        {"id": unique("ce"), "source": SOURCE, "type": "invoice.paid", **attributes},
        {"invoice_id": unique("inv")} if data is None else data,
    )


def post(call, key, message: HTTPMessage, path: str = "/v1/events"):
    """Send an SDK message through the handler (header names as API Gateway passes them on)."""
    headers = {
        ("Content-Type" if name.lower() == "content-type" else name): value for name, value in message.headers.items()
    }
    return call("POST", path, key=key, body=message.body.decode(), headers=headers)


def read_back(call, key, event_id: str) -> BaseCloudEvent:
    response = call("GET", f"/v1/events/{event_id}", key=key, headers={"Accept": "application/cloudevents+json"})
    assert response.status == 200
    assert response.headers["content-type"] == "application/cloudevents+json"
    return from_http_event(
        HTTPMessage(headers={"content-type": response.headers["content-type"]}, body=response.body.encode())
    )


def test_a_structured_event_is_stored_and_read_back_as_the_same_cloudevent(call, make_api_key):
    key, _ = make_api_key()
    sent = cloud_event(subject="inv-1001")
    response = post(call, key, to_structured_event(sent))
    assert response.status == 201
    event_id = response.json["event_id"]
    stored = call("GET", f"/v1/events/{event_id}", key=key).json
    assert (stored["source"], stored["event_type"], stored["payload"]) == (SOURCE, "invoice.paid", sent.get_data())
    assert stored["subject"] == "inv-1001"
    back = read_back(call, key, event_id)
    assert (back.get_id(), back.get_source(), back.get_type()) == (sent.get_id(), SOURCE, "invoice.paid")
    assert back.get_data() == sent.get_data() and back.get_subject() == "inv-1001"
    assert back.get_time() == sent.get_time()
    assert back.get_extension("eventid") == event_id and back.get_extension("eventstatus") == "pending"


def test_a_binary_event_is_stored_as_the_same_cloudevent(call, make_api_key):
    key, _ = make_api_key()
    sent = cloud_event(data={"amount_cents": 4200, "note": "ünï €"}, subject="a b/c")
    message = to_binary_event(sent)
    assert "ce-id" in message.headers and "ce-specversion" in message.headers
    response = post(call, key, message)
    assert response.status == 201
    back = read_back(call, key, response.json["event_id"])
    assert (back.get_id(), back.get_source(), back.get_subject()) == (sent.get_id(), SOURCE, "a b/c")
    assert back.get_data() == {"amount_cents": 4200, "note": "ünï €"}


def test_a_cloudevents_batch_stores_each_event(call, make_api_key):
    key, _ = make_api_key()
    sent = [cloud_event(data={"n": n}) for n in range(3)]
    body = b"[" + b",".join(JSONFormat().write(event) for event in sent) + b"]"
    message = HTTPMessage(headers={"content-type": "application/cloudevents-batch+json"}, body=body)
    response = post(call, key, message, "/v1/events/batch")
    assert response.status == 200
    results = response.json["results"]
    assert [r["status"] for r in results] == [201, 201, 201]
    for event, result in zip(sent, results, strict=True):
        back = read_back(call, key, result["event_id"])
        assert (back.get_id(), back.get_data()) == (event.get_id(), event.get_data())


def test_source_and_id_are_the_idempotency_key(call, make_api_key):
    key, _ = make_api_key()
    sent = cloud_event()
    first = post(call, key, to_structured_event(sent))
    again = post(call, key, to_binary_event(sent))  # the same event, in the other mode
    assert first.status == again.status == 201
    assert again.json["event_id"] == first.json["event_id"]
    attributes = {name: value for name, value in sent.get_attributes().items() if name != "specversion"}
    changed = CloudEvent(dict(attributes), {"other": True})
    assert_problem(post(call, key, to_structured_event(changed)), 422, "/problems/idempotency-key-reused")
    elsewhere = CloudEvent({**attributes, "source": "/another/source"}, sent.get_data())
    assert post(call, key, to_structured_event(elsewhere)).json["event_id"] != first.json["event_id"]
    # The Idempotency-Key header does not name a CloudEvent's key: the same string as a header is another key.
    plain = {"source": "billing", "event_type": "invoice.paid", "payload": {}}
    assert call("POST", "/v1/events", key=key, body=plain, headers={"Idempotency-Key": sent.get_id()}).status == 201


def test_data_that_is_not_json_is_415(call, make_api_key):
    key, _ = make_api_key()
    as_text = to_binary_event(cloud_event(data="plain text", datacontenttype="text/plain"))
    assert_problem(post(call, key, as_text), 415)
    declared_xml = to_structured_event(cloud_event(datacontenttype="application/xml"))
    assert_problem(post(call, key, declared_xml), 415, "/problems/unsupported-media-type")
    as_bytes = to_structured_event(cloud_event(data=b"\x00\x01", datacontenttype="application/octet-stream"))
    assert b"data_base64" in as_bytes.body
    assert_problem(post(call, key, as_bytes), 415, "/problems/unsupported-media-type")
    batch = HTTPMessage(
        headers={"content-type": "application/cloudevents-batch+json"},
        body=b"["
        + JSONFormat().write(cloud_event())
        + b","
        + JSONFormat().write(cloud_event(datacontenttype="text/csv"))
        + b"]",
    )
    assert_problem(post(call, key, batch, "/v1/events/batch"), 415)  # the whole batch: nothing is stored
    assert call("GET", "/v1/inbox", key=key).json["events"] == []


def test_data_that_is_not_an_object_and_missing_attributes_are_400(call, make_api_key):
    key, _ = make_api_key()
    assert_problem(post(call, key, to_structured_event(cloud_event(data="a string"))), 400)
    binary = to_binary_event(cloud_event())
    without_id = HTTPMessage({k: v for k, v in binary.headers.items() if k != "ce-id"}, binary.body)
    assert_problem(post(call, key, without_id), 400)
    array = HTTPMessage(binary.headers, b"[1, 2]")
    assert_problem(post(call, key, array), 400)
    fragment = to_structured_event(cloud_event(source="https://example.com/a#b"))
    assert_problem(post(call, key, fragment), 400)


def test_an_event_without_data_has_an_empty_payload(call, make_api_key):
    key, _ = make_api_key()
    message = to_binary_event(cloud_event())
    response = post(call, key, HTTPMessage(message.headers, b""))
    assert response.status == 201
    assert call("GET", f"/v1/events/{response.json['event_id']}", key=key).json["payload"] == {}


def test_json_stays_the_default_answer(call, make_api_key):
    key, _ = make_api_key()
    event_id = post(call, key, to_structured_event(cloud_event())).json["event_id"]
    for accept in (None, "*/*", "application/json", "application/json, application/cloudevents+json;q=0.5"):
        headers = {"Accept": accept} if accept else {}
        response = call("GET", f"/v1/events/{event_id}", key=key, headers=headers)
        assert response.headers["content-type"] == "application/json" and response.json["event_id"] == event_id
    # An event created in our own shape reads as a CloudEvent whose id is its event_id.
    created = call("POST", "/v1/events", key=key, body={"source": "billing", "event_type": "a.b", "payload": {"x": 1}})
    back = read_back(call, key, created.json["event_id"])
    assert back.get_id() == created.json["event_id"] and back.get_source() == "billing"


def test_the_usual_cloudevents_types_are_event_types(call, make_api_key):
    """Reverse-DNS types with underscores and hyphens (GitHub's, Google's, Azure's) fit `event_type`, in filters
    too; characters outside the stated set are 400."""
    key, _ = make_api_key()
    usual = (
        "com.github.pull_request.opened",
        "google.cloud.storage.object.v1.finalized",
        "Microsoft.Storage.Blob-Created",
    )
    for type_ in usual:
        response = post(call, key, to_structured_event(cloud_event(type=type_)))
        assert response.status == 201, response.body
        listed = call("GET", "/v1/events", key=key, query={"event_type": type_}).json["events"]
        assert [event["event_id"] for event in listed] == [response.json["event_id"]]
    subscription = {"name": "prs", "filter": {"event_types": ["com.github.pull_request.*"]}}
    assert call("POST", "/v1/subscriptions", key=key, body=subscription).status == 201
    for type_ in ("com.github push", "aws.s3@ObjectCreated", "_leading.underscore"):
        assert_problem(post(call, key, to_structured_event(cloud_event(type=type_))), 400)
