"""The benchmark still runs: `python -m bench --quick` end to end, in its own process.

A few iterations of every section; the figures are checked for being there and being sane numbers, never against
a time or a budget (this machine's speed is not the code's). `make bench` runs the real thing.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = {"health", "create", "create_invalid", "inbox", "ack", "get", "delete"}


def positive(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[dict, str]:
    """The figures (--json) and the printed report of one quick run."""
    figures = tmp_path_factory.mktemp("bench") / "figures.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard, not a measurement
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(figures.read_text()), result.stdout


def test_warm_figures_for_every_operation_and_handler(quick_run):
    warm = quick_run[0]["warm"]
    assert warm["reference_schema_matches_spec"] is True
    assert set(warm["operations"]) == OPERATIONS
    for operation, by_handler in warm["operations"].items():
        assert {"ours", "flask", "raw", "ours_no_log_line"} <= set(by_handler), operation
        for name, figure in by_handler.items():
            assert len(figure["runs"]) == warm["repeats"], (operation, name)
            assert all(positive(run) for run in figure["runs"]), (operation, name, figure)
            assert positive(figure["median"]), (operation, name)


def test_lever_variants_are_measured(quick_run):
    measured = set(quick_run[0]["warm"]["operations"]["create"])
    # Each lever added in turn (bench/levers.py); "before" and "+jsonschema_rs" need modules only the dev venv has.
    assert {"+in_thread", "+on_the_loop", "+built_once", "+key_scheme", "+no_docs_router"} <= measured
    assert "+validate_responses" in measured


def test_cold_start_figures(quick_run):
    cold = quick_run[0]["cold"]
    assert {"ours", "flask", "raw", "ours_nopyc"} <= set(cold["subjects"])
    for name, subject in cold["subjects"].items():
        assert len(subject["wall"]["runs"]) == cold["runs"], name
        assert all(positive(run) for run in subject["wall"]["runs"]), name
        assert positive(subject["import_ms"]) and positive(subject["first_request_ms"]), name
        # The whole process holds what was timed inside it.
        assert subject["wall"]["median"] >= subject["in_process_ms"] > 0, name
    importtime = cold["importtime"]
    assert positive(importtime["total_ms"])
    assert len(importtime["top_packages_ms"]) == 10
    assert all(isinstance(name, str) and positive(ms) for name, ms in importtime["top_packages_ms"])


def test_dynamodb_calls_and_scanned_counts(quick_run):
    calls = quick_run[0]["dynamodb"]
    assert {"create", "get", "inbox page", "ack", "delete"} <= set(calls["operations"])
    for operation, counted in calls["operations"].items():
        for container in ("warm", "cold"):
            assert all(isinstance(n, int) and n > 0 for n in counted[container].values()), (operation, container)
    assert calls["backlog"] > 10
    assert len(calls["scanned"]) == 4
    assert all(isinstance(n, int) and 0 <= n <= calls["page_limit"] for n in calls["scanned"].values())


def test_package_figures(quick_run):
    package = quick_run[0]["package"]
    for described in [*package["serverless"], package["estimate"]]:
        assert positive(described["zipped_mb"]) and described["unzipped_mb"] >= described["zipped_mb"]
        assert described["files"] > 0


def test_the_report_prints_every_section(quick_run):
    report = quick_run[1]
    for heading in (
        "Warm overhead per request",
        "What each lever bought",
        "Cold start",
        "importtime",
        "DynamoDB calls per operation",
        "ScannedCount",
        "Package size",
    ):
        assert heading in report
