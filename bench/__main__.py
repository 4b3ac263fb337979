"""The performance benchmark (issue 5): every figure next to a reference measured in the same run.

Sections:
  warm      µs per request through each Lambda handler: ours, a Flask + aws-wsgi reference, a raw handler (floor),
            and ours before each performance lever; storage is an in-memory double (bench/storage_double.py)
  cold      whole-process cold starts of the same three (and ours without .pyc), plus `python -X importtime`
  dynamodb  DynamoDB calls per operation, and items an inbox page reads against the backlog (real code, moto)
  package   size of the deployment zip (.serverless/*.zip when `make package` made one, or a fresh one with
            --build-package) and an estimate from the .venv

The figures and the command that produced them go into docs/performance.md; --json keeps them all.
"""

import argparse
import importlib.util
import json
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import report, workload
from bench.gateway import ROOT

SECTIONS = ("warm", "cold", "dynamodb", "package")
FULL = {"calls": 1000, "repeats": 5, "cold_runs": 10, "backlog": 10_000}
QUICK = {"calls": 20, "repeats": 2, "cold_runs": 2, "backlog": 200}


def _worker(module: str, *args: str) -> dict:
    """Run a section in its own process (a fresh interpreter, its own settings); its figures come back as JSON."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "figures.json"
        # Starlette warns about its test client, which Connexion imports and nothing here uses.
        command = [sys.executable, "-W", "ignore:Using `httpx`", "-m", module, *args, "--out", str(out)]
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def _revision() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return commit.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few iterations of everything (the test suite's run)")
    parser.add_argument("--calls", type=int, help=f"warm: calls per batch (default {FULL['calls']})")
    parser.add_argument("--repeats", type=int, help=f"warm: batches per operation and handler ({FULL['repeats']})")
    parser.add_argument("--cold-runs", type=int, help=f"cold: fresh processes per subject ({FULL['cold_runs']})")
    parser.add_argument("--backlog", type=int, help=f"dynamodb: events in the large inboxes ({FULL['backlog']})")
    parser.add_argument("--no-levers", action="store_true", help="warm and cold: skip ours-before-the-levers")
    parser.add_argument(
        "--build-package", action="store_true", help="package: run `serverless package` first (needs Node, pip)"
    )
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), metavar="SECTION")
    parser.add_argument("--json", type=Path, help="also write every figure (all runs) to this file")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    calls, repeats = args.calls or settings["calls"], args.repeats or settings["repeats"]
    cold_runs, backlog = args.cold_runs or settings["cold_runs"], args.backlog or settings["backlog"]
    workload.configure_environment()

    results = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "revision": _revision(),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.system()}",
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    started = time.perf_counter()
    lines = []
    if "warm" in args.only:
        print(f"== warm: {repeats} × {calls} calls per operation and handler", file=sys.stderr, flush=True)
        options = ["--calls", str(calls), "--repeats", str(repeats)] + (["--no-levers"] if args.no_levers else [])
        results["warm"] = _worker("bench.warm", *options)
        lines += ["", *report.warm(results["warm"])]
        if not args.no_levers:
            from bench.levers import VARIANTS

            lines += ["", *report.levers(results["warm"], VARIANTS)]
    if "cold" in args.only:
        from bench import cold

        print(f"== cold: {cold_runs} fresh processes per subject", file=sys.stderr, flush=True)
        with_before = not args.no_levers and importlib.util.find_spec("a2wsgi") is not None
        results["cold"] = cold.measure(cold_runs, with_before)
        lines += ["", *report.cold(results["cold"])]
    if "dynamodb" in args.only:
        print(f"== dynamodb: calls per operation; inbox against a backlog of {backlog}", file=sys.stderr, flush=True)
        results["dynamodb"] = _worker("bench.dynamodb_calls", "--backlog", str(backlog))
        lines += ["", *report.dynamodb(results["dynamodb"])]
    if "package" in args.only:
        from bench import package_size

        print("== package", file=sys.stderr, flush=True)
        results["package"] = package_size.measure(build=args.build_package)
        lines += ["", *report.package(results["package"])]
    results["seconds"] = time.perf_counter() - started

    header = [
        f"Triggers API benchmark, {results['when']}, revision {results['revision']}",
        f"Python {results['python']} on {results['machine']}; `{results['command'].strip()}` "
        f"took {results['seconds']:.0f} s",
    ]
    print("\n".join(header + lines))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
