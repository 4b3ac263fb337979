"""The GitHub Actions workflows (.github/workflows) and their shared setup (.github/actions/setup).

actionlint (from requirements-dev.txt) must report nothing on them, with shellcheck on the PATH so that the shell
of every `run:` step is checked too; and a workflow broken on purpose must make it report, so this check can fail.
The rest reads the workflows as data: what runs where, with which permissions, in which environment.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
BIN = Path(sys.executable).parent  # .venv/bin: actionlint and shellcheck come with requirements-dev.txt


def actionlint(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(BIN / "actionlint"), "-no-color", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def workflow(name: str) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); the workflows are read as GitHub reads them otherwise.
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True)
    return document


def test_shellcheck_is_there_for_actionlint():
    result = subprocess.run([str(BIN / "shellcheck"), "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "version" in result.stdout


def test_actionlint_reports_nothing():
    files = sorted(str(path.relative_to(REPO)) for path in WORKFLOWS.glob("*.yml"))
    assert files == [
        ".github/workflows/ci.yml",
        ".github/workflows/deploy-prod.yml",
        ".github/workflows/deploy-staging.yml",
        ".github/workflows/deploy.yml",
    ]
    result = actionlint(*files)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_a_broken_workflow_is_reported(tmp_path):
    """Three mistakes of three kinds: a job that `needs` one that does not exist, an input the action does not
    have, and an unquoted variable in a `run:` script (shellcheck's SC2086)."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: push\n"
        "jobs:\n"
        "  test:\n"
        "    runs-on: ubuntu-24.04\n"
        "    needs: [build]\n"
        "    steps:\n"
        "      - uses: actions/checkout@v5\n"
        "        with:\n"
        "          fetch-everything: true\n"
        "      - run: echo $GITHUB_SHA > $RUNNER_TEMP/sha\n"
    )
    result = actionlint(str(broken), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'job "test" needs job "build" which does not exist' in result.stdout
    assert 'input "fetch-everything" is not defined in action "actions/checkout@v5"' in result.stdout
    assert "SC2086" in result.stdout  # the run: script was checked


def test_ci_runs_make_test_on_pull_requests_and_pushes():
    ci = workflow("ci.yml")
    assert set(ci["on"]) == {"pull_request", "push"}
    assert ci["permissions"] == {"contents": "read"}
    (job,) = ci["jobs"].values()
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs == ["make test"]  # what .ci/run runs
    assert {"uses": "./.github/actions/setup"} in job["steps"]


def test_the_setup_takes_python_from_python_version_and_caches_on_the_lock_files():
    action = yaml.safe_load((REPO / ".github" / "actions" / "setup" / "action.yml").read_text())
    steps = action["runs"]["steps"]
    python = next(step for step in steps if step.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"] == {"python-version-file": ".python-version"}
    keys = {step["id"]: step["with"]["key"] for step in steps if step.get("uses", "").startswith("actions/cache@")}
    for name in (".python-version", "requirements.txt", "requirements-dev.txt", "requirements-checkov.txt"):
        assert f"'{name}'" in keys["venv"]
    assert "'package-lock.json'" in keys["node-modules"]
    assert "'integrations/zapier/package-lock.json'" in keys["node-modules"]


@pytest.mark.parametrize(
    ("name", "stage", "environment"),
    [("deploy-staging.yml", "staging", "staging"), ("deploy-prod.yml", "prod", "production")],
)
def test_both_deploys_call_the_one_reusable_workflow(name, stage, environment):
    caller = workflow(name)
    (job,) = caller["jobs"].values()
    assert job["uses"] == "./.github/workflows/deploy.yml"
    assert job["with"] == {"stage": stage, "environment": environment}
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert caller["permissions"] == {"contents": "read"}


def test_staging_deploys_on_main_and_prod_by_hand():
    assert workflow("deploy-staging.yml")["on"] == {"push": {"branches": ["main"]}}
    prod = workflow("deploy-prod.yml")
    assert prod["on"] == {"workflow_dispatch": None}
    (job,) = prod["jobs"].values()
    assert "refs/heads/main" in job["if"]  # not from any branch


def test_the_deploy_assumes_the_stages_role_through_oidc_and_checks_the_stage():
    deploy = workflow("deploy.yml")
    assert set(deploy["on"]) == {"workflow_call"}
    (job,) = deploy["jobs"].values()
    assert job["environment"]["name"] == "${{ inputs.environment }}"  # its protection rules and its variables
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    credentials = next(
        s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
    )
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials["with"])  # no stored AWS secret
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    commands = ("make deploy", "make console-deploy", "triggers.cli.api_keys create", "make smoke", "make fuzz")
    for command in (*commands, "api_keys revoke"):
        assert command in runs, command
    revoke = next(step for step in job["steps"] if "api_keys revoke" in step.get("run", ""))
    assert revoke["if"].startswith("always()")  # the keys go whatever happened
