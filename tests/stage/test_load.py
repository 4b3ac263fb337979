"""The load test (scripts/load_test.py) against the session's local stage, in both modes:
- inbox: 20 clients for 20 s creating, paging and acknowledging; no 5xx, and what the stage stored matches every 201
  and every acknowledgement;
- subscription: 4 producers for 10 s while 20 consumers share one subscription through receive and ack (the
  stage's fan-out function feeds it); every event is received and acknowledged exactly once, received again only
  after a lease ended (each lease a consumer abandoned, as if it crashed, and no other), and no ack is refused.
"""

import json

from scripts import load_test
from tests.support import unique


def run_load(stage, tmp_path, clients: int, *arguments: str) -> tuple[int, dict]:
    """Run the load test with a key per client, all of one new tenant; its exit status and its figures."""
    tenant = unique("load")
    keys = [stage.create_key(tenant, name=f"load client {i}") for i in range(clients)]
    figures_path = tmp_path / "load.json"
    key_arguments = [argument for key in keys for argument in ("--key", key)]
    status = load_test.main(["--url", stage.url, *key_arguments, *arguments, "--json", str(figures_path)])
    figures = json.loads(figures_path.read_text())
    print(json.dumps(figures, indent=2))
    return status, figures


def test_load_run_loses_nothing(own_stage, tmp_path):
    # A third of `make load`'s minute: CI's time is shared by every suite (README: the figures of a full run).
    status, figures = run_load(own_stage, tmp_path, 20, "--clients", "20", "--seconds", "20")
    assert figures["server_errors"] == [] and figures["problems"] == []
    assert status == 0
    assert figures["created"] > 0 and figures["acknowledged"] > 0
    assert figures["statuses"]["create"] == {"201": figures["created"]}


def test_consumers_sharing_a_subscription_process_every_event_once(own_stage, tmp_path):
    status, figures = run_load(
        own_stage,
        tmp_path,
        24,
        *("--mode", "subscription", "--clients", "20", "--producers", "4", "--seconds", "10"),
        *("--max-events", "600", "--visibility-timeout", "10", "--abandon", "0.02", "--drain-seconds", "180"),
    )
    assert figures["server_errors"] == [] and figures["problems"] == []
    assert status == 0
    assert figures["created"] > 0
    assert figures["statuses"]["create"] == {"201": figures["created"]}
    assert figures["received"] == figures["acknowledged"] == figures["created"]
    assert set(figures["ack_outcomes"]) == {"acknowledged"}  # no lease_lost, no not_found
    # Every lease abandoned came back once its time was up, and no other delivery came twice.
    assert figures["redeliveries_after_expired_lease"] == figures["abandoned"]
