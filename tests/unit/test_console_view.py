"""The web console's own checks (console/, docs/console.md), run by pytest so that `make test` and `make check` run
them: its API types generated anew from openapi.yaml and the whole TypeScript checked with `tsc` strict (a contract
change that breaks the console fails here), then its vitest unit tests of the view logic (console/test/)."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def npm_run(script: str) -> str:
    """`npm run <script>` of package.json in the repository; fails the test with its output unless it exits 0."""
    if not (REPO / "node_modules" / "vitest").is_dir():
        pytest.fail("node_modules/vitest is missing: run `npm ci` (or `make setup`) first", pytrace=False)
    npm = shutil.which("npm")
    assert npm, "npm is not on PATH"
    result = subprocess.run(
        [npm, "run", "--silent", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = f"{result.stdout}\n{result.stderr}"
    if result.returncode != 0:
        pytest.fail(f"npm run {script} exited with {result.returncode}:\n{output[-6000:]}", pytrace=False)
    return output


def test_the_console_type_checks_against_the_generated_api_types():
    npm_run("console:check")
    assert (REPO / "console" / "src" / "generated" / "api.d.ts").read_text().count('"/v1/') > 10


def test_the_console_view_logic_passes_its_unit_tests():
    output = npm_run("console:test")
    assert " passed" in output and " failed" not in output, output[-3000:]
