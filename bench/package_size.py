"""Package size: the zip `serverless package` wrote to .serverless/ (or, with --build-package, a fresh one in
build/bench/package/); and always an estimate.

The estimate zips what the package holds (serverless.yml: the application, openapi.yaml, and the closure of
requirements.txt without the `noDeploy` packages), taken from the .venv with its Python 3.13 byte code, so it can
be compared run to run even where Node and the Serverless Framework are not installed. It is not the artifact.
"""

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml

from bench import runtime_env
from bench.gateway import ROOT

PROJECT = ("handlers", "triggers", "openapi.yaml")
DOCS_UI = "swagger_ui_bundle/"
MB = 1024 * 1024


def no_deploy() -> set[str]:
    try:
        config = yaml.safe_load((ROOT / "serverless.yml").read_text())
        names = config["custom"]["pythonRequirements"].get("noDeploy", [])
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        names = ["boto3", "botocore"]
    return {runtime_env.canonical(name) for name in names}


def describe(path: Path) -> dict:
    """Sizes of a zip, what its byte code was compiled by, and the share of the docs UI's assets."""
    with zipfile.ZipFile(path) as archive:
        entries = [entry for entry in archive.infolist() if not entry.is_dir()]
    tags: dict[str, int] = {}
    for entry in entries:
        if entry.filename.endswith(".pyc"):
            tag = entry.filename.rsplit("/", 1)[-1].split(".")[-2] if entry.filename.count(".") >= 2 else "?"
            tags[tag] = tags.get(tag, 0) + 1
    docs = [entry for entry in entries if entry.filename.startswith(DOCS_UI)]
    return {
        "path": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "zipped_mb": path.stat().st_size / MB,
        "unzipped_mb": sum(entry.file_size for entry in entries) / MB,
        "files": len(entries),
        "pyc_by_tag": tags,
        "docs_ui_zipped_mb": sum(entry.compress_size for entry in docs) / MB,
        "has_boto3": any(entry.filename.startswith(("boto3/", "botocore/")) for entry in entries),
    }


def _files() -> list[tuple[Path, str]]:
    excluded = no_deploy()
    files = []
    for distribution in runtime_env.closure(runtime_env.requirement_names()):
        if runtime_env.canonical(distribution.metadata["Name"]) in excluded:
            continue
        base = Path(distribution.locate_file(""))
        for file in distribution.files or []:
            if file.parts and file.parts[0] != ".." and (base / file).is_file():
                files.append((base / file, file.as_posix()))
    for part in PROJECT:
        source = ROOT / part
        paths = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        for path in paths:
            if path.suffix == ".pyc" and f".{sys.implementation.cache_tag}." not in path.name:
                continue
            files.append((path, path.relative_to(ROOT).as_posix()))
    return files


def estimate() -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "estimate.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for source, name in _files():
                archive.write(source, name)
        return describe(path) | {"path": "estimate (built from .venv)"}


BUILT = runtime_env.BUILD / "package"


def build_package() -> bool:
    """`serverless package --stage dev` into build/bench/package/ (the project's osls; pip fetches the wheels).
    False, with the reason printed, when it cannot run here."""
    environment = {
        **os.environ,
        "TRIGGERS_CURSOR_SECRET": "bench-only-0123456789abcdef0123456789abcdef",  # needed to resolve, never deployed
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    command = ["npx", "--no", "--", "serverless", "package", "--stage", "dev", "--package", str(BUILT)]
    try:
        result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=1200)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"  serverless package could not run: {exc}", file=sys.stderr)
        return False
    if result.returncode != 0:
        print(f"  serverless package failed:\n{(result.stdout + result.stderr)[-2000:]}", file=sys.stderr)
        return False
    return True


def measure(build: bool = False) -> dict:
    if build:
        print("  running serverless package (a few minutes)", file=sys.stderr, flush=True)
        build_package()
    zips = [
        path
        for path in sorted((ROOT / ".serverless").glob("*.zip")) + (sorted(BUILT.glob("*.zip")) if build else [])
        if path.name != "custom-resources.zip"  # the framework's own helper function, not ours
    ]
    if not zips:
        print("  no .serverless/*.zip (make package, or --build-package): estimating", file=sys.stderr)
    return {
        "serverless": [describe(path) for path in zips],
        "estimate": estimate(),
        "budget_mb": {"without_docs_ui": 8, "with_docs_ui": 10},
    }
