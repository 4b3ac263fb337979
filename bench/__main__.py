"""The performance benchmark: every figure next to a Flask + aws-wsgi reference measured in the same run.

Sections:
  warm     µs per request through each Lambda handler, per operation: ours and the reference, on one in-memory
           DynamoDB double (bench/warm.py)
  cold     whole-process cold starts: ours and the reference, each with only its own dependencies (bench/cold.py)
  dynamodb DynamoDB round trips in sequence of a receive, an ack of 100, a fan-out and a batch create of 100, and
           the items a receive reads beside a large backlog: the real code on moto (bench/round_trips.py)
  package  the size of .serverless/*.zip, when `make package` made one

The figures and the command that produced them go into docs/performance.md; --json keeps every run.
"""

import argparse
import json
import platform
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("warm", "cold", "dynamodb", "package")
# moto writes about 100 deliveries a second: a backlog of 10,000 takes two minutes to set up.
FULL = {"calls": 1000, "repeats": 5, "cold_runs": 10, "backlog": 10_000}
QUICK = {"calls": 20, "repeats": 2, "cold_runs": 2, "backlog": 200}
BUDGETS = {"warm": 2.0, "cold": 1.5, "package_mb": 10.0}
# Round trips in sequence (issue "Subscriptions"): a receive of 10, an ack of 100, a fan-out to k: 1 + ceil(k / 25);
# (issue "Ingest at scale") a batch create of 100 new events.
ROUND_TRIPS = {"receive 10": 3, "ack 100": 5, "fan-out to 50": 3, "batch 100": 5}


def package() -> dict[str, float]:
    """MB of each zip `serverless package` left in .serverless/ (not the framework's own helper function's)."""
    zips = [path for path in sorted((ROOT / ".serverless").glob("*.zip")) if path.name != "custom-resources.zip"]
    return {path.name: path.stat().st_size / 1024 / 1024 for path in zips}


def _mark(value: float, budget: str) -> str:
    return "holds" if value <= BUDGETS[budget] else "OVER"


def report(results: dict) -> list[str]:
    lines = [
        f"Triggers API benchmark, {results['when']}, revision {results['revision']}",
        f"Python {results['python']} on {results['machine']}; `{results['command']}` took {results['seconds']:.0f} s",
    ]
    if warm := results.get("warm"):
        lines += [
            f"\nWarm, µs per request: median of {warm['repeats']} × {warm['calls']} calls through each Lambda handler, "
            f"storage the in-memory double. Budget: ours ≤ {BUDGETS['warm']}× the Flask reference.",
            f"  {'operation':<18} {'ours':>6} {'flask':>6} {'ratio':>6}",
        ]
        for operation, figures in warm["operations"].items():
            ours, flask, ratio = figures["ours"]["median"], figures["flask"]["median"], figures["ratio"]
            lines.append(f"  {operation:<18} {ours:>6.0f} {flask:>6.0f} {ratio:>5.2f}×  {_mark(ratio, 'warm')}")
    if cold := results.get("cold"):
        lines += [
            f"\nCold start, ms: median of {cold['runs']} fresh processes (start, import, build, one create, exit). "
            f"Budget: ours ≤ {BUDGETS['cold']}× the Flask reference.",
            *(
                f"  {name:<6} {subject['median']:>5.0f} (import and build {subject['build_ms']:.0f}, "
                f"first request {subject['first_request_ms']:.1f})"
                for name, subject in cold["subjects"].items()
            ),
            f"  ratio  {cold['ratio']:.2f}×  {_mark(cold['ratio'], 'cold')}",
            "  Not measured: Lambda's own init (zip, microVM, runtime, a 512 MB function's CPU share), the cursor "
            "secret's SSM read, and a SnapStart restore, which skips import and build (docs/performance.md).",
        ]
    if dynamodb := results.get("dynamodb"):
        lines.append(
            f"\nDynamoDB on moto, real code, {dynamodb['pause_ms']:.0f} ms before each send: calls, round trips in "
            "sequence (budget), items scanned"
        )
        for name, budget in ROUND_TRIPS.items():
            calls, sequence, scanned = dynamodb[name]
            mark = "holds" if sequence <= budget else "OVER"
            lines.append(
                f"  {name:<14} {calls:>4} calls {sequence:>3} in sequence (≤ {budget}) {mark}, {scanned} scanned"
            )
        lines += [
            f"  items a receive of 10 reads: {what}: {n}"
            for what, n in dynamodb["items read by a receive of 10"].items()
        ]
    if (package := results.get("package")) is not None:
        lines.append(f"\nPackage, MB zipped (budget ≤ {BUDGETS['package_mb']:.0f} MB)")
        lines += [f"  .serverless/{name}: {mb:.1f}  {_mark(mb, 'package_mb')}" for name, mb in package.items()]
        lines += [] if package else ["  no .serverless/*.zip (`make package` makes one): not measured"]
    return lines


def _revision() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (" with uncommitted changes" if git("status", "--porcelain") else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few iterations of everything (the test suite's run)")
    parser.add_argument("--calls", type=int, help=f"warm: calls per batch (default {FULL['calls']})")
    parser.add_argument("--repeats", type=int, help=f"warm: batches per operation and handler ({FULL['repeats']})")
    parser.add_argument("--cold-runs", type=int, help=f"cold: fresh processes per subject ({FULL['cold_runs']})")
    parser.add_argument("--backlog", type=int, help=f"dynamodb: deliveries held beside a receive ({FULL['backlog']})")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="one section (repeat for more)")
    parser.add_argument("--json", type=Path, help="also write every figure (all runs) to this file")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    calls, repeats = args.calls or defaults["calls"], args.repeats or defaults["repeats"]
    sections = args.only or SECTIONS
    results: dict = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "revision": _revision(),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.system()}",
        "command": " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)]),
        "budgets": BUDGETS,
    }
    started = time.perf_counter()
    if "warm" in sections:
        warnings.filterwarnings("ignore", "Using `httpx`")  # Connexion imports Starlette's test client; unused here
        from bench import warm

        print(f"== warm: {repeats} × {calls} calls per operation and handler", file=sys.stderr, flush=True)
        results["warm"] = warm.measure(calls, repeats)
    if "cold" in sections:
        from bench import cold

        runs = args.cold_runs or defaults["cold_runs"]
        print(f"== cold: {runs} fresh processes per subject", file=sys.stderr, flush=True)
        results["cold"] = cold.measure(runs)
    if "dynamodb" in sections:
        from bench import round_trips

        print("== dynamodb: round trips and items read, on moto", file=sys.stderr, flush=True)
        results["dynamodb"] = round_trips.measure(args.backlog or defaults["backlog"])
    if "package" in sections:
        results["package"] = package()
    results["seconds"] = time.perf_counter() - started
    print("\n".join(report(results)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
