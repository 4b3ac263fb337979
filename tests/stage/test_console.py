"""The web console (console/, docs/console.md) in headless Chromium against the running local stage, its fan-out and
push deliveries included: tests/browser/console.mjs drives the page as a tenant would and reports; this asserts.

The console is built by Vite into a temporary folder (its types and tsc are tests/unit/test_console_view.py's part)
and served as `make run` serves it (scripts/local_stage.py's serve_console, with a config.json naming the stage).
The page's screenshot goes to the test's temporary folder (a test must not change the checkout); docs/console.png is
a copy of one, made by hand.
"""

import json
import re
import time

import pytest
from stage_support import NPX, free_ports, request, run
from standardwebhooks.webhooks import Webhook

from scripts import local_stage
from tests.browser.browser_support import run_browser
from tests.support import Receiver

SERIOUS = {"serious", "critical"}
PUSH_WAIT_SECONDS = 60  # as the page's wait: the fan-out, the push queue's poller, the deliver function


@pytest.fixture
def console_url(stage, tmp_path):
    """The console, built from this checkout, served next to the stage on a free port."""
    build = tmp_path / "console"
    run([*NPX, "vite", "build", "--config", "console/vite.config.mts", "--outDir", str(build), "--logLevel", "warn"])
    (port,) = free_ports(1)
    server = local_stage.serve_console(build, stage.url, port)
    yield f"http://127.0.0.1:{port}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver():
    """Takes the first push, answers 500 to the second (it dies: the subscription allows one delivery), and takes
    everything after (the redriven one)."""
    running = Receiver()
    running.statuses = [200, 500, 200]
    yield running
    running.close()


def test_a_tenant_follows_a_push_into_dead_letters_and_redrives_it_from_the_console(
    stage, make_key, console_url, receiver, tmp_path, capsys
):
    key = make_key("console")
    screenshot = tmp_path / "console.png"
    report, seconds = run_browser(
        "console.mjs",
        console_url,
        env={
            "CONSOLE_API_URL": stage.url,
            "CONSOLE_KEY": key,
            "CONSOLE_RECEIVER_URL": receiver.url(),
            "CONSOLE_SCREENSHOT": str(screenshot),
        },
    )
    with capsys.disabled():
        print(f"\nconsole in {report['browser']}: {seconds:.1f} s, {report['timings_ms']}")

    # A wrong key: the page says 401 with the problem's title and request id.
    assert re.fullmatch(r"Unauthorized: .*Sign in again.* \(request id [0-9a-f-]{36}\)", report["unauthorized"])
    # Signed in: the key's tenant and scopes; the key in this tab's sessionStorage only, never in the URL.
    assert report["who"].startswith("Tenant console-")
    assert "subscriptions:manage" in report["who"] and "events:read" in report["who"]
    assert report["error_after_sign_in"] == ""
    assert list(report["session_storage"].values()) == [key]
    assert report["local_storage_keys"] == []
    assert key not in report["page_url"]
    # The push subscription, its secret shown once.
    assert report["secret"].startswith("whsec_")
    (subscription,) = report["subscriptions"]
    assert subscription["cells"][:5] == [
        "console-hook",
        f"push to {receiver.url()}",
        "sources: all; types: order.*",
        "1",
        "active",
    ]
    # The first event delivered, the second failed once (max deliveries 1) and dead: both in the attempts table,
    # the chart counting them; the dead one in the dead letters.
    attempts = {row["eventId"]: row for row in report["attempts"]}
    assert attempts[report["delivered_event"]]["outcome"] == "delivered"
    assert attempts[report["delivered_event"]]["cells"][3] == "200"
    assert attempts[report["dead_event"]]["outcome"] == "dead"
    assert attempts[report["dead_event"]]["cells"][3] == "500"
    assert [row["eventId"] for row in report["dead_letters"]] == [report["dead_event"]]
    assert report["chart"]["label"].endswith("1 delivered, 1 not delivered, per minute")
    assert sorted(report["chart"]["bars"]) == ["delivered", "failed"]
    # "Redrive all": a background job whose progress the page followed to its end; then delivered.
    assert report["progress_seen"][-1] == "Redrive finished: 1 dead letter put back."
    assert report["dead_letters_after_redrive"][0]["cells"] == ["No dead letters."]
    outcomes = [(row["eventId"], row["outcome"]) for row in report["attempts_after_redrive"]]
    assert outcomes[0] == (report["dead_event"], "delivered")
    assert len(receiver.got) == 3
    # A pull subscription's backlog: the event of its type, ready, waited on for seconds.
    assert re.fullmatch(
        r"1 ready to receive, 0 leased; the oldest ready one has waited \d+ s \(since .* UTC\)\.", report["backlog"]
    )
    # Paused and resumed from its row; the push secret rotated (the next push is signed with the new one, below);
    # the pull subscription deleted after its confirmation.
    assert (report["paused_state"], report["resumed_state"]) == ("paused", "active")
    assert report["rotated_secret"].startswith("whsec_") and report["rotated_secret"] != report["secret"]
    assert [row["cells"][0] for row in report["subscriptions_after_delete"]] == ["console-hook"]
    # The events list, filtered by source, and one event's detail with its payload pretty-printed.
    assert {row["cells"][1] for row in report["events"]} == {"console-test"}
    assert json.loads(report["event_payload"]) == {"order": 1}
    assert '\n  "order": 1\n' in report["event_payload"]
    # It went to the push subscription only (the pull one filters invoice.*), and was taken there.
    (went_to,) = report["event_deliveries"]
    assert went_to["text"] == "console-hook: acknowledged, received or pushed once"
    # Signing out forgets the key.
    assert report["session_storage_after_sign_out"] == {}
    # The secret the page rotated is the one the next push is signed with.
    created = request(
        "POST",
        f"{stage.url}/v1/events",
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        body=json.dumps({"source": "console-test", "event_type": "order.created", "payload": {"order": 4}}).encode(),
    )
    assert created.status == 201, created.body
    deadline = time.monotonic() + PUSH_WAIT_SECONDS
    while len(receiver.got) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(receiver.got) == 4, f"the push after the rotation did not come in {PUSH_WAIT_SECONDS} s"
    pushed = Webhook(report["rotated_secret"]).verify(receiver.got[3]["body"], receiver.got[3]["headers"])
    assert pushed["event_id"] == created.json["event_id"]

    # Accessibility on every view: no serious or critical axe violation, every control named and reached by Tab.
    for view in ("sign_in", "subscription", "events"):
        serious = [violation for violation in report["axe"][view] if violation["impact"] in SERIOUS]
        assert serious == [], (view, serious)
        keyboard = report["keyboard"][view]
        assert keyboard["unreached"] == [] and keyboard["unnamed"] == [], (view, keyboard)
    assert {"API key", "Sign in"} <= set(report["keyboard"]["sign_in"]["controls"])
    assert {
        "Sign out",
        "Copy secret",
        "Rotate secret of console-hook",
        "Pause console-hook",
        "Delete console-hook",
        "Name",
        "Create subscription",
        f"Select dead letter {report['dead_event']}",
        "Redrive selected",
        "Redrive all",
    } <= set(report["keyboard"]["subscription"]["controls"])
    assert {"Source", "Event type", "Apply filters", f"Show event {report['delivered_event']}", "Payload"} <= set(
        report["keyboard"]["events"]["controls"]
    )
    # The page ran whole: no error, nothing outside the console and the API, within its Content-Security-Policy.
    assert report["page_errors"] == [] and report["console_errors"] == []
    assert report["outside_requests"] == [] and report["failed_requests"] == []
    assert report["csp_violations"] == []
    assert screenshot.stat().st_size > 10_000
