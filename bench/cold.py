"""Cold start: fresh processes that build a handler on the in-memory double and answer one create.

Each subject runs as `python -S` with only its own dependencies on the path, as a Lambda runs with its zip: a
folder of symlinks into the .venv holding the closure of pyproject.toml's dependencies (ours) or of Flask, aws-wsgi,
jsonschema and boto3 (the reference). The .venv holds Flask too, and Connexion imports Flask whenever it finds it,
so on the .venv ours would count imports a Lambda never makes. Children get only the settings' variables and their
path (not PYTHONDONTWRITEBYTECODE: a Lambda zip ships byte code, and the untimed first round writes ours). Subjects
take turns, run after run; a figure is the median wall time of the whole process, interpreter start to exit, and
the ratio the median of ours / the reference over the runs (each pair started one after the other). No subject makes
a boto3 client.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from bench import workload

ROOT = Path(__file__).resolve().parents[1]
# The reference builds its storage with our composition root (triggers/services.py), so it needs what that imports:
# boto3 and standardwebhooks (the push worker's signing) besides its own Flask, aws-wsgi and jsonschema.
REFERENCE_ROOTS = ["flask", "aws-wsgi", "jsonschema", "boto3", "standardwebhooks"]


def closure(roots: list[str]) -> list[metadata.Distribution]:
    """The installed distributions `roots` need, following their requirements (and requested extras)."""
    seen: dict[str, metadata.Distribution] = {}
    pending = [Requirement(root) for root in roots]
    while pending:
        requirement = pending.pop()
        distribution = metadata.distribution(requirement.name)
        if distribution.name.lower() in seen:
            continue
        seen[distribution.name.lower()] = distribution
        for needed in map(Requirement, distribution.requires or []):
            extras = requirement.extras or {""}
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(needed)
    return list(seen.values())


def build_site(site: Path, roots: list[str]) -> Path:
    """A new folder of symlinks to the top-level files and folders of the closure of `roots`."""
    site.mkdir()
    for distribution in closure(roots):
        for file in distribution.files or []:
            top = file.parts[0] if file.parts else ".."
            if top in ("..", "__pycache__") or top.endswith(".pth") or (site / top).exists():
                continue
            if (target := Path(str(distribution.locate_file(top)))).exists():
                (site / top).symlink_to(target, target_is_directory=target.is_dir())
    return site


def _run(subject: str, env: dict[str, str], out: Path) -> tuple[float, dict]:
    command = [sys.executable, "-S", "-m", "bench.cold_child", subject, str(out)]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = (time.perf_counter() - started) * 1000
    if result.returncode != 0:
        raise SystemExit(f"cold start of {subject} failed:\n{result.stderr[-2000:]}")
    figures = json.loads(out.read_text())
    if figures["status"] != 201:
        raise SystemExit(f"cold start of {subject} answered {figures['status']}, not 201")
    return wall, figures


def measure(runs: int) -> dict:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    roots = {"ours": declared, "flask": REFERENCE_ROOTS}
    measured: dict[str, list[tuple[float, dict]]] = {name: [] for name in roots}
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "figures.json"
        environments = {
            name: {
                **workload.ENVIRONMENT,
                "PATH": os.environ.get("PATH", ""),
                "PYTHONPATH": f"{ROOT}{os.pathsep}{build_site(Path(scratch) / name, dependencies)}",
            }
            for name, dependencies in roots.items()
        }
        if runs >= 3:  # one untimed round: the first start after building the sites fills the OS file cache
            for name, env in environments.items():
                _run(name, env, out)
        for run in range(runs):
            print(f"  cold start {run + 1}/{runs}: ours, flask", file=sys.stderr, flush=True)
            for name, env in environments.items():
                measured[name].append(_run(name, env, out))
    subjects = {}
    for name, results in measured.items():
        walls = [wall for wall, _ in results]
        inside = {
            part: statistics.median(figures[part] for _, figures in results)
            for part in ("build_ms", "first_request_ms")
        }
        subjects[name] = {"median": statistics.median(walls), "runs": walls, **inside}
    pairs = zip(subjects["ours"]["runs"], subjects["flask"]["runs"], strict=True)
    ratio = statistics.median(ours / flask for ours, flask in pairs)
    return {"runs": runs, "unit": "ms, whole process", "subjects": subjects, "ratio": ratio}
