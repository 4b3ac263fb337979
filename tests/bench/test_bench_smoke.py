"""The benchmark still runs: `python -m bench --quick` end to end, in its own process.

A few iterations of every section; the figures are checked for being there and being sane numbers, never against
a time or a budget (this machine's speed is not the code's). `make bench` runs the real thing.
"""

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from bench import reference_flask
from bench.warm import OPERATIONS
from triggers.http.app import load_spec

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = {"ours", "flask"}
# One pytest-xdist worker for the module: each worker that runs one of its tests makes its own quick run (24 s).
pytestmark = pytest.mark.xdist_group("bench")


def positive(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


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


def test_the_run_says_what_it_ran(quick_run):
    figures = quick_run[0]
    assert figures["command"].startswith("python -m bench --quick")
    assert {"when", "revision", "python", "machine", "seconds"} <= set(figures)
    assert figures["budgets"] == {"warm": 2.0, "cold": 1.5, "package_mb": 10.0}


def test_warm_figures_for_every_operation_and_handler(quick_run):
    warm = quick_run[0]["warm"]
    assert warm["unit"] == "µs per request"
    assert list(warm["operations"]) == list(OPERATIONS)
    for operation, figures in warm["operations"].items():
        assert set(figures) == HANDLERS | {"ratio"}, operation
        for name in HANDLERS:
            assert len(figures[name]["runs"]) == warm["repeats"], (operation, name)
            assert all(positive(run) for run in figures[name]["runs"]), (operation, name, figures[name])
            assert positive(figures[name]["median"]), (operation, name)
        # The median of the ratios of runs made side by side.
        paired = [ours / flask for ours, flask in zip(figures["ours"]["runs"], figures["flask"]["runs"], strict=True)]
        assert figures["ratio"] == pytest.approx(statistics.median(paired)), operation


def test_cold_start_figures(quick_run):
    cold = quick_run[0]["cold"]
    assert set(cold["subjects"]) == HANDLERS
    for name, subject in cold["subjects"].items():
        assert len(subject["runs"]) == cold["runs"], name
        assert all(positive(run) for run in subject["runs"]), name
        assert positive(subject["build_ms"]) and positive(subject["first_request_ms"]), name
        # The whole process holds what was timed inside it.
        assert subject["median"] > subject["build_ms"], name
    pairs = zip(cold["subjects"]["ours"]["runs"], cold["subjects"]["flask"]["runs"], strict=True)
    assert cold["ratio"] == pytest.approx(statistics.median(ours / flask for ours, flask in pairs))


def test_package_figures(quick_run):
    """Only zips `make package` left behind are measured; none is fine, a measured one has a size."""
    package = quick_run[0]["package"]
    assert all(name.endswith(".zip") and positive(size) for name, size in package.items())


def test_the_report_prints_every_section(quick_run):
    figures, report = quick_run
    for heading in ("Warm, µs per request", "Cold start, ms", "Package, MB zipped"):
        assert heading in report
    for operation, warm in figures["warm"]["operations"].items():
        assert f"{warm['ratio']:.2f}×" in next(line for line in report.splitlines() if f" {operation} " in line)
    assert f"ratio  {figures['cold']['ratio']:.2f}×" in report


def test_the_reference_validates_a_create_as_the_spec_does():
    """The reference's hand-written NewEvent schema is the spec's, with references resolved."""
    spec = load_spec()

    def resolve(node):
        if isinstance(node, dict) and "$ref" in node:
            target = spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(target)
        if isinstance(node, dict):
            return {key: resolve(value) for key, value in node.items() if key not in ("example", "description")}
        return node

    assert resolve(spec["components"]["schemas"]["NewEvent"]) == reference_flask.NEW_EVENT


def test_round_trip_figures_and_their_budgets(quick_run):
    """The DynamoDB section counts real calls on moto: each measured action made calls, at least one in sequence
    and no more in sequence than it made; a receive of 10 beside a backlog reads what it returns."""
    dynamodb, report = quick_run[0]["dynamodb"], quick_run[1]
    for name in ("receive 10", "ack 100", "fan-out to 50", "batch 100"):
        calls, sequence, _ = dynamodb[name]
        assert 1 <= sequence <= calls, name
        assert name in report
    assert dynamodb["ack 100"][0] == 101  # the subscription, then one conditional write per token
    assert set(dynamodb["items read by a receive of 10"].values()) == {10}
