"""Push subscriptions end to end: the API creates them, the fan-out function's stream records enqueue their
deliveries, the deliver function (fed from the push queue on moto, as Lambda's poller would) POSTs them to a real
HTTP receiver on this machine, which checks every signature with the `standardwebhooks` package (and reads a
push in `cloudevents` format with the `cloudevents` SDK).

The app and the deliver function (tests/conftest.py, `push_api`, `run_pushes`) are built with the local stage's
setting that allows http://127.0.0.1 targets; the address checks of deployed stages have tests of their own below.
"""

import json
import logging
import threading

import pytest
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import HTTPMessage, from_http_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent
from standardwebhooks.webhooks import Webhook

from tests.support import Receiver, assert_problem, invoke, new_event, unique
from triggers.logs import JsonFormatter
from triggers.webhooks.sender import WebhookSender


def subscribe(push_api, key, url, **fields):
    body = {"name": "hook", "delivery": {"mode": "push", "url": url}, **fields}
    response = invoke(push_api, "POST", "/v1/subscriptions", key=key, body=body)
    assert response.status == 201, response.body
    return response.json


def verified(receiver: Receiver, secret: str) -> list[dict]:
    """Every payload the receiver got, each verified (signature and timestamp) by the standardwebhooks package."""
    return [Webhook(secret).verify(got["body"], got["headers"]) for got in receiver.got]


def attempts(push_api, key, subscription_id) -> list[dict]:
    response = invoke(push_api, "GET", f"/v1/subscriptions/{subscription_id}/attempts", key=key)
    assert response.status == 200, response.body
    return response.json["attempts"]


def test_a_push_subscription_shows_its_secret_once_and_its_mode_always(push_api, make_api_key, receiver):
    key, _ = make_api_key()
    created = subscribe(push_api, key, receiver.url())
    assert created["secret"].startswith("whsec_")
    assert created["delivery"] == {"mode": "push", "url": receiver.url(), "format": "json"}
    shown = invoke(push_api, "GET", f"/v1/subscriptions/{created['subscription_id']}", key=key).json
    assert "secret" not in shown
    assert shown["delivery"] == {"mode": "push", "url": receiver.url(), "format": "json"}
    listed = invoke(push_api, "GET", "/v1/subscriptions", key=key).json["subscriptions"]
    assert [s.get("secret") for s in listed] == [None]


def test_an_event_is_pushed_once_signed_and_the_attempt_is_listed(push_api, make_api_key, receiver, stream, run_pushes):
    key, _ = make_api_key()
    subscription = subscribe(push_api, key, receiver.url(), filter={"event_types": ["invoice.*"]})
    wanted = invoke(push_api, "POST", "/v1/events", key=key, body=new_event(event_type="invoice.paid")).json
    invoke(push_api, "POST", "/v1/events", key=key, body=new_event(event_type="order.placed"))
    stream.pump()
    run_pushes()
    [payload] = verified(receiver, subscription["secret"])
    assert payload["event_id"] == wanted["event_id"] and payload["event_type"] == "invoice.paid"
    assert receiver.got[0]["path"] == "/hook"
    assert receiver.got[0]["headers"]["content-type"] == "application/json"
    [attempt] = attempts(push_api, key, subscription["subscription_id"])
    assert attempt["outcome"] == "delivered" and attempt["status_code"] == 200 and attempt["next_attempt_at"] is None
    assert attempt["webhook_id"] == receiver.got[0]["headers"]["webhook-id"]
    # A replayed stream record or a duplicate message pushes nothing again.
    stream.pump()
    run_pushes()
    assert len(receiver.got) == 1


def test_a_failed_push_is_tried_again_with_the_same_webhook_id(push_api, make_api_key, receiver, stream, run_pushes):
    key, _ = make_api_key()
    receiver.statuses = [500, 200]
    subscription = subscribe(push_api, key, receiver.url())
    invoke(push_api, "POST", "/v1/events", key=key, body=new_event())
    stream.pump()
    run_pushes()
    assert len(receiver.got) == 1
    [failed] = attempts(push_api, key, subscription["subscription_id"])
    assert failed["outcome"] == "failed" and failed["status_code"] == 500 and failed["next_attempt_at"]
    run_pushes(wait_seconds=10)  # the retry's message is delayed by the schedule's first step, 5 s
    assert len(receiver.got) == 2
    first, second = receiver.got
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    verified(receiver, subscription["secret"])
    outcomes = [a["outcome"] for a in attempts(push_api, key, subscription["subscription_id"])]
    assert outcomes == ["delivered", "failed"]  # newest first


def test_a_receiver_that_hangs_times_out_and_is_tried_again(push_api, make_api_key, receiver, stream, run_pushes):
    key, _ = make_api_key()
    receiver.hang_seconds = 3  # the send timeout here is 1 s
    subscription = subscribe(push_api, key, receiver.url())
    invoke(push_api, "POST", "/v1/events", key=key, body=new_event())
    stream.pump()
    run_pushes()
    [attempt] = attempts(push_api, key, subscription["subscription_id"])
    assert attempt["outcome"] == "failed" and attempt["error"] == "timeout" and attempt["status_code"] is None
    receiver.hang_seconds = 0
    run_pushes(wait_seconds=10)
    assert [a["outcome"] for a in attempts(push_api, key, subscription["subscription_id"])] == ["delivered", "failed"]


def test_410_pauses_the_subscription_and_resuming_pushes_what_waited(
    push_api, make_api_key, receiver, stream, run_pushes
):
    key, _ = make_api_key()
    receiver.statuses = [410, 200]
    subscription = subscribe(push_api, key, receiver.url())
    path = f"/v1/subscriptions/{subscription['subscription_id']}"
    first = invoke(push_api, "POST", "/v1/events", key=key, body=new_event()).json
    stream.pump()
    run_pushes()
    shown = invoke(push_api, "GET", path, key=key).json
    assert shown["paused"] is True and shown["paused_reason"] == "receiver_gone"
    # Events keep arriving while it is paused: nothing is pushed.
    second = invoke(push_api, "POST", "/v1/events", key=key, body=new_event()).json
    stream.pump()
    run_pushes()
    assert len(receiver.got) == 1
    resumed = invoke(push_api, "PATCH", path, key=key, body={"paused": False}).json
    assert resumed["paused"] is False and resumed["paused_reason"] is None
    run_pushes()
    pushed = {payload["event_id"] for payload in verified(receiver, subscription["secret"])[1:]}
    assert pushed == {first["event_id"], second["event_id"]}


def test_a_delivery_tried_max_deliveries_times_is_dead_and_redrive_pushes_it_again(
    push_api, make_api_key, receiver, stream, run_pushes
):
    key, _ = make_api_key()
    receiver.statuses = [503]
    subscription = subscribe(push_api, key, receiver.url(), max_deliveries=1)
    path = f"/v1/subscriptions/{subscription['subscription_id']}"
    event = invoke(push_api, "POST", "/v1/events", key=key, body=new_event()).json
    stream.pump()
    run_pushes()
    [attempt] = attempts(push_api, key, subscription["subscription_id"])
    assert attempt["outcome"] == "dead" and attempt["next_attempt_at"] is None
    [dead] = invoke(push_api, "GET", f"{path}/dead-letters", key=key).json["dead_letters"]
    assert dead["event_id"] == event["event_id"]
    receiver.statuses = [200]
    redriven = invoke(push_api, "POST", f"{path}/redrive", key=key, body={"event_ids": [event["event_id"]]}).json
    assert redriven["results"] == [{"event_id": event["event_id"], "outcome": "redriven"}]
    run_pushes()
    assert len(receiver.got) == 2
    assert attempts(push_api, key, subscription["subscription_id"])[0]["outcome"] == "delivered"
    assert invoke(push_api, "GET", f"{path}/dead-letters", key=key).json["dead_letters"] == []


def test_a_redirect_is_not_followed(push_api, make_api_key, receiver, stream, run_pushes):
    key, _ = make_api_key()
    receiver.statuses = [302]
    subscription = subscribe(push_api, key, receiver.url())
    invoke(push_api, "POST", "/v1/events", key=key, body=new_event())
    stream.pump()
    run_pushes()
    assert [got["path"] for got in receiver.got] == ["/hook"]
    [attempt] = attempts(push_api, key, subscription["subscription_id"])
    assert attempt["outcome"] == "failed" and attempt["status_code"] == 302


def test_after_a_rotation_both_secrets_verify_each_push(push_api, make_api_key, receiver, stream, run_pushes):
    key, _ = make_api_key()
    subscription = subscribe(push_api, key, receiver.url())
    path = f"/v1/subscriptions/{subscription['subscription_id']}"
    rotated = invoke(push_api, "POST", f"{path}/rotate-secret", key=key)
    assert rotated.status == 200, rotated.body
    new_secret = rotated.json["secret"]
    assert new_secret.startswith("whsec_") and new_secret != subscription["secret"]
    invoke(push_api, "POST", "/v1/events", key=key, body=new_event())
    stream.pump()
    run_pushes()
    assert len(receiver.got[0]["headers"]["webhook-signature"].split(" ")) == 2
    assert verified(receiver, subscription["secret"]) == verified(receiver, new_secret)
    # Rotating again retires the first secret at once: only the two newest sign.
    newest = invoke(push_api, "POST", f"{path}/rotate-secret", key=key).json["secret"]
    invoke(push_api, "POST", "/v1/events", key=key, body=new_event())
    stream.pump()
    run_pushes()
    last = receiver.got[-1]
    assert Webhook(newest).verify(last["body"], last["headers"])
    assert Webhook(new_secret).verify(last["body"], last["headers"])
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(subscription["secret"]).verify(last["body"], last["headers"])


def test_pull_operations_refuse_a_push_subscription_and_the_reverse(push_api, make_api_key, receiver):
    key, _ = make_api_key()
    push = subscribe(push_api, key, receiver.url())
    received = invoke(push_api, "POST", f"/v1/subscriptions/{push['subscription_id']}/receive", key=key, body={})
    assert_problem(received, 409, "/problems/wrong-delivery-mode")
    pull = invoke(push_api, "POST", "/v1/subscriptions", key=key, body={"name": "pull"}).json
    assert pull["delivery"] == {"mode": "pull"} and "secret" not in pull
    rotated = invoke(push_api, "POST", f"/v1/subscriptions/{pull['subscription_id']}/rotate-secret", key=key)
    assert_problem(rotated, 409, "/problems/wrong-delivery-mode")


def cloudevent_pushed(got: dict) -> BaseCloudEvent:
    """A push the receiver got, read as a CloudEvent by the `cloudevents` SDK (structured mode, by its media type)."""
    return from_http_event(HTTPMessage(headers={"content-type": got["headers"]["content-type"]}, body=got["body"]))


def test_a_cloudevents_subscription_pushes_each_event_as_a_signed_structured_cloudevent(
    push_api, make_api_key, receiver, stream, run_pushes
):
    key, _ = make_api_key()
    subscription = subscribe(
        push_api, key, receiver.url(), delivery={"mode": "push", "url": receiver.url(), "format": "cloudevents"}
    )
    assert subscription["delivery"] == {"mode": "push", "url": receiver.url(), "format": "cloudevents"}
    shown = invoke(push_api, "GET", f"/v1/subscriptions/{subscription['subscription_id']}", key=key).json
    assert shown["delivery"]["format"] == "cloudevents"
    # One event sent as a CloudEvent (built by the SDK; its type has the underscore GitHub's types have), one in
    # our own shape.
    sent = CloudEvent(
        {
            "id": unique("ce"),
            "source": "https://github.com/cloudevents/spec/pull",
            "type": "com.github.pull_request.opened",
            "subject": "123",
        },
        {"number": 123, "title": "ünï €"},
    )
    message = to_structured_event(sent)
    created = invoke(
        push_api,
        "POST",
        "/v1/events",
        key=key,
        body=message.body.decode(),
        headers={"Content-Type": message.headers["content-type"]},
    )
    assert created.status == 201, created.body
    own = invoke(push_api, "POST", "/v1/events", key=key, body=new_event()).json
    stream.pump()
    run_pushes()
    assert len(receiver.got) == 2
    by_event = {}
    for got in receiver.got:
        assert got["headers"]["content-type"] == "application/cloudevents+json"
        Webhook(subscription["secret"]).verify(got["body"], got["headers"])  # signed over the body as sent
        pushed = cloudevent_pushed(got)
        by_event[pushed.get_extension("eventid")] = (pushed, got)
    pushed, got = by_event[created.json["event_id"]]
    assert (pushed.get_id(), pushed.get_source(), pushed.get_type()) == (
        sent.get_id(),
        "https://github.com/cloudevents/spec/pull",
        "com.github.pull_request.opened",
    )
    assert pushed.get_data() == {"number": 123, "title": "ünï €"} and pushed.get_subject() == "123"
    assert pushed.get_time() == sent.get_time()
    # Exactly what GET /v1/events/{id} answers as a CloudEvent, but for the read's own request id.
    read = invoke(
        push_api,
        "GET",
        f"/v1/events/{created.json['event_id']}",
        key=key,
        headers={"Accept": "application/cloudevents+json"},
    ).json
    assert json.loads(got["body"]) == {name: value for name, value in read.items() if name != "requestid"}
    # An event created in our own shape is a CloudEvent whose id is its event_id.
    pushed, _ = by_event[own["event_id"]]
    assert (pushed.get_id(), pushed.get_source(), pushed.get_type()) == (own["event_id"], "billing", "invoice.paid")
    assert [a["outcome"] for a in attempts(push_api, key, subscription["subscription_id"])] == ["delivered"] * 2


def test_the_format_can_be_changed_and_only_a_push_subscription_has_one(
    push_api, make_api_key, receiver, stream, run_pushes
):
    key, _ = make_api_key()
    subscription = subscribe(push_api, key, receiver.url())
    path = f"/v1/subscriptions/{subscription['subscription_id']}"
    changed = invoke(push_api, "PATCH", path, key=key, body={"delivery": {"format": "cloudevents"}})
    assert changed.status == 200, changed.body
    assert changed.json["delivery"] == {"mode": "push", "url": receiver.url(), "format": "cloudevents"}
    event = invoke(push_api, "POST", "/v1/events", key=key, body=new_event()).json
    stream.pump()
    run_pushes()
    [got] = receiver.got
    Webhook(subscription["secret"]).verify(got["body"], got["headers"])
    assert cloudevent_pushed(got).get_id() == event["event_id"]
    back = invoke(push_api, "PATCH", path, key=key, body={"delivery": {"format": "json"}}).json
    assert back["delivery"]["format"] == "json"
    assert invoke(push_api, "GET", path, key=key).json["delivery"]["format"] == "json"
    # A pull subscription has no format: the spec refuses one on create (400); a change of it is 409.
    with_format = {"name": "pull", "delivery": {"mode": "pull", "format": "cloudevents"}}
    assert_problem(invoke(push_api, "POST", "/v1/subscriptions", key=key, body=with_format), 400)
    pull = invoke(push_api, "POST", "/v1/subscriptions", key=key, body={"name": "pull"}).json
    pull_path = f"/v1/subscriptions/{pull['subscription_id']}"
    refused = invoke(push_api, "PATCH", pull_path, key=key, body={"delivery": {"format": "cloudevents"}})
    assert_problem(refused, 409, "/problems/wrong-delivery-mode")
    assert invoke(push_api, "GET", pull_path, key=key).json["delivery"] == {"mode": "pull"}
    unknown = invoke(push_api, "PATCH", path, key=key, body={"delivery": {"format": "xml"}})
    assert_problem(unknown, 400)
    missing = invoke(
        push_api,
        "PATCH",
        "/v1/subscriptions/00000000-0000-4000-8000-000000000000",
        key=key,
        body={"delivery": {"format": "json"}},
    )
    assert_problem(missing, 404)


def test_one_slow_receiver_does_not_hold_up_another(push_api, make_api_key, stream, run_pushes):
    """Each receiver answers only once both have got their request. Sent one after the other, the first would wait
    past the send timeout (1 s here) for the second, which is sent only after the first gave up: it would fail."""
    key, _ = make_api_key()
    receivers = [Receiver(), Receiver()]
    both_arrived = threading.Barrier(2, timeout=5)
    for receiver in receivers:
        receiver.before_answer = both_arrived.wait
    try:
        subscriptions = [subscribe(push_api, key, receiver.url()) for receiver in receivers]
        invoke(push_api, "POST", "/v1/events", key=key, body=new_event())
        stream.pump()
        run_pushes()
        outcomes = [a["outcome"] for s in subscriptions for a in attempts(push_api, key, s["subscription_id"])]
        assert outcomes == ["delivered", "delivered"]
    finally:
        for receiver in receivers:
            receiver.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/in",  # not https
        "https://127.0.0.1/in",
        "https://[::1]/in",
        "https://169.254.169.254/latest/meta-data/",  # the instance metadata address
        "https://10.1.2.3/in",
        "https://[::ffff:10.1.2.3]/in",
        "https://localhost/in",
        "https://hooks.example.com:99999/in",
    ],
)
def test_a_deployed_stage_refuses_urls_it_must_not_send_to(lambda_handler, make_api_key, url):
    key, _ = make_api_key()
    body = {"name": "hook", "delivery": {"mode": "push", "url": url}}
    response = invoke(lambda_handler, "POST", "/v1/subscriptions", key=key, body=body)
    assert_problem(response, 422, "/problems/invalid-push-url")


def test_a_receiver_that_is_not_listening_is_a_connection_error(receiver):
    url = receiver.url()
    receiver.close()
    result = WebhookSender(allow_private=True, timeout=1).post(url, {}, b"{}")
    assert result.error == "connection_error" and result.status_code is None


def test_a_name_that_resolves_to_an_inside_address_is_refused_at_send_time(receiver):
    """DNS rebinding: the name was public when subscribed; now it resolves to loopback or 10.x. Nothing connects."""
    port = receiver.server.server_address[1]

    def resolve_to(address):
        return lambda host, port, **_: [(2, 1, 6, "", (address, port))]

    for address in ("127.0.0.1", "10.0.0.7", "169.254.169.254"):
        sender = WebhookSender(allow_private=False, timeout=1, resolve=resolve_to(address))
        result = sender.post(f"http://rebound.example:{port}/hook", {}, b"{}")
        assert result.error == "address_not_allowed" and result.status_code is None
    assert receiver.got == []
    # The same send with the local stage's setting reaches the receiver: the refusal above was the check's.
    allowed = WebhookSender(allow_private=True, timeout=1, resolve=resolve_to("127.0.0.1"))
    assert allowed.post(f"http://rebound.example:{port}/hook", {}, b"{}").status_code == 200
    assert len(receiver.got) == 1


def test_neither_the_secret_nor_the_url_reaches_a_log_line(
    push_api, make_api_key, receiver, stream, run_pushes, caplog
):
    key, _ = make_api_key()
    receiver.statuses = [500]
    subscription = subscribe(push_api, key, receiver.url("/hook/s3cr3t-path-token"))
    invoke(push_api, "POST", "/v1/events", key=key, body=new_event())
    caplog.set_level(logging.DEBUG)
    stream.pump()
    run_pushes()
    lines = [JsonFormatter().format(record) for record in caplog.records]
    [attempt] = [
        fields
        for fields in map(json.loads, lines)
        if fields["message"] == "push attempt" and fields["subscription_id"] == subscription["subscription_id"]
    ]
    assert attempt["outcome"] == "failed" and attempt["status_code"] == 500
    assert attempt["subscription_id"] == subscription["subscription_id"]
    logged = "\n".join(lines)
    assert "s3cr3t-path-token" not in logged
    assert subscription["secret"].removeprefix("whsec_") not in logged
