"""Cold starts: fresh processes that import a handler, build its app and answer one create; and import times.

Each subject runs as `python -S` with only its own closure on the path (bench/runtime_env.py), as a Lambda runs
with its zip: ours with requirements.txt, the Flask reference with Flask, aws-wsgi, jsonschema and boto3, the floor
with jsonschema-rs and boto3. Subjects take turns, run after run; a figure is the median wall time of the whole
process (interpreter start to exit). `ours without .pyc` runs from copies of its code and closure without
byte code, which is what a zip whose `__pycache__` folders were stripped costs on Lambda's read-only file system
(boto3 and botocore keep theirs: the Lambda runtime provides them).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import runtime_env, workload
from bench.gateway import ROOT

FLOOR_ROOTS = ["jsonschema-rs", "boto3"]
FLASK_ROOTS = ["flask", "aws-wsgi", "jsonschema", "boto3"]
RUNTIME_PROVIDED = ("boto3", "botocore")  # serverless.yml: custom.pythonRequirements.noDeploy
PROJECT_PARTS = ("handlers", "triggers", "bench", "openapi.yaml", "tests/events")


def _copy_without_bytecode(site: Path, name: str) -> tuple[Path, Path]:
    """Copies of the project and of a closure folder, with no byte code (runtime-provided packages stay linked)."""
    project, copy = runtime_env.BUILD / f"{name}-project", runtime_env.BUILD / name
    for folder in (project, copy):
        if folder.exists():
            shutil.rmtree(folder)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in PROJECT_PARTS:
        source, target = ROOT / part, project / part
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        elif source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    copy.mkdir(parents=True)
    for entry in site.iterdir():
        if entry.name == "__pycache__":
            continue
        real = entry.resolve()
        if entry.name in RUNTIME_PROVIDED or not real.is_dir():
            (copy / entry.name).symlink_to(real, target_is_directory=real.is_dir())
        else:
            shutil.copytree(real, copy / entry.name, ignore=ignore)
    return project, copy


def prepare(with_before: bool) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name → (command, environment) of each subject's child. A dependency missing from requirements.txt makes
    ours fail to import, as it would on Lambda."""
    roots = runtime_env.requirement_names()
    sites = {
        "ours": runtime_env.build_site("ours", roots),
        "flask": runtime_env.build_site("flask", FLASK_ROOTS),
        "raw": runtime_env.build_site("raw", FLOOR_ROOTS),
    }
    if with_before:
        sites["before"] = runtime_env.build_site("before", [*roots, "a2wsgi"])
    base = {**os.environ, **workload.ENVIRONMENT}
    base.pop("PYTHONPATH", None)
    subjects = {}
    for name, site in sites.items():
        subjects[name] = (
            [sys.executable, "-S", "-m", "bench.cold_child", name],
            {**base, "PYTHONPATH": f"{ROOT}{os.pathsep}{site}"},
        )
    project, copy = _copy_without_bytecode(sites["ours"], "ours-nopyc")
    subjects["ours_nopyc"] = (
        [sys.executable, "-S", "-m", "bench.cold_child", "ours"],
        {**base, "PYTHONPATH": f"{project}{os.pathsep}{copy}", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    return subjects


def _run(command: list[str], env: dict[str, str], out: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    result = subprocess.run([*command, str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = (time.perf_counter() - started) * 1000
    if result.returncode != 0:
        raise SystemExit(f"cold start of {command[-1]} failed:\n{result.stderr[-2000:]}")
    figures = json.loads(out.read_text())
    if figures["status"] != 201:
        raise SystemExit(f"cold start of {command[-1]} answered {figures['status']}, not 201")
    return wall, figures


def measure(runs: int, with_before: bool) -> dict:
    subjects = prepare(with_before)
    walls: dict[str, list[float]] = {name: [] for name in subjects}
    inside: dict[str, list[dict]] = {name: [] for name in subjects}
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "figures.json"
        if runs >= 3:  # one untimed round: the first start after building the sites pays for the OS file cache
            for command, env in subjects.values():
                _run(command, env, out)
        for run in range(runs):
            print(f"  cold start {run + 1}/{runs}: {', '.join(subjects)}", file=sys.stderr, flush=True)
            for name, (command, env) in subjects.items():
                wall, figures = _run(command, env, out)
                walls[name].append(wall)
                inside[name].append(figures)
    return {
        "runs": runs,
        "unit": "ms",
        "subjects": {
            name: {
                "wall": {"median": statistics.median(walls[name]), "runs": walls[name]},
                **{
                    part: statistics.median(figures[part] for figures in inside[name])
                    for part in ("import_ms", "first_request_ms", "in_process_ms")
                },
            }
            for name in subjects
        },
        "importtime": importtime(subjects["ours"][1]),
    }


def importtime(env: dict[str, str], top: int = 10, runs: int = 3) -> dict:
    """`python -X importtime` of ours' handler module (which builds the app), median of `runs`: the total, and the
    ten packages whose own import time is largest (every module of the package summed, without what it imports)."""
    command = [sys.executable, "-S", "-X", "importtime", "-c", "import handlers.lambda_handler"]
    totals, packages = [], {}
    for _ in range(runs):
        result = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            raise SystemExit(f"importtime run failed:\n{result.stderr[-2000:]}")
        total, own = 0, {}
        for line in result.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
            if name.startswith(" ") and not name.startswith("  "):  # a top-level import: counts into the total
                total += int(cumulative_us)
            package = name.strip().split(".")[0]
            own[package] = own.get(package, 0) + int(self_us)
        totals.append(total)
        for package, us in own.items():
            packages.setdefault(package, []).append(us)
    medians = {package: statistics.median(values + [0] * (runs - len(values))) for package, values in packages.items()}
    ranked = sorted(medians.items(), key=lambda item: item[1], reverse=True)[:top]
    return {"total_ms": statistics.median(totals) / 1000, "top_packages_ms": [[name, us / 1000] for name, us in ranked]}
