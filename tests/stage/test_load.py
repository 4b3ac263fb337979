"""The load test (scripts/load_test.py) against the session's local stage: 20 clients for 60 s creating, paging
and acknowledging; no 5xx, and what the stage stored matches every 201 and every acknowledgement."""

import json

from scripts import load_test
from tests.support import unique


def test_load_run_loses_nothing(stage, tmp_path):
    tenant = unique("load")
    keys = [stage.create_key(tenant, name=f"load client {i}") for i in range(20)]
    figures_path = tmp_path / "load.json"
    key_arguments = [argument for key in keys for argument in ("--key", key)]
    status = load_test.main(
        ["--url", stage.url, *key_arguments, "--clients", "20", "--seconds", "60", "--json", str(figures_path)]
    )
    figures = json.loads(figures_path.read_text())
    print(json.dumps(figures, indent=2))
    assert figures["server_errors"] == [] and figures["problems"] == []
    assert status == 0
    assert figures["created"] > 0 and figures["acknowledged"] > 0
    assert figures["statuses"]["create"] == {"201": figures["created"]}
