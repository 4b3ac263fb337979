"""Helpers of the deployment checks in tests/deploy: constants, subprocess runs, the packaged output.

Kept apart from conftest.py so that test modules import them under a name no other test folder uses.
"""

import json
import os
import shlex
import shutil
import subprocess
import venv
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("lambda_runner.py")
SERVICE = "triggers-api"
REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
CURSOR_SECRET = "5f0c3c5e1d6b4a8e9f7a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70"  # a test value, never deployed
CHECKOV_VERSION = "3.3.30"  # as in requirements-checkov.txt; it pins boto3==1.35.49, hence a virtualenv of its own
# What the Lambda runtime provides next to the function's code: boto3, botocore (noDeploy) and their dependencies.
SERVERLESS = ("npx", "--no", "--", "serverless")  # the project's osls, never a download
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "dateutil", "s3transfer", "urllib3", "six")


def base_environment() -> dict:
    """This machine's environment without anything AWS- or application-specific (another fixture may set some)."""
    dropped_prefixes = ("AWS_", "DYNAMODB_", "TRIGGERS_")
    dropped = {"STAGE", "AUTH_MODE", "CURSOR_SECRET", "DEV_API_KEY", "LOG_LEVEL", "CORS_ORIGINS", "PYTHONPATH"}
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped_prefixes) and k not in dropped}


def run(command, *, cwd=REPO, env=None, timeout=600) -> subprocess.CompletedProcess:
    """Run a command to completion; if it fails, fail the test with the end of its output."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        output = (result.stdout + "\n" + result.stderr)[-6000:]
        pytest.fail(f"{' '.join(map(str, command))} exited with {result.returncode}:\n{output}", pytrace=False)
    return result


@dataclass
class Package:
    """The output of `serverless package --stage <stage> --package <directory>`."""

    stage: str
    directory: Path
    log: str

    @cached_property
    def update_template(self) -> dict:
        return json.loads((self.directory / "cloudformation-template-update-stack.json").read_text())

    @cached_property
    def create_template(self) -> dict:
        return json.loads((self.directory / "cloudformation-template-create-stack.json").read_text())

    @cached_property
    def state(self) -> dict:
        """serverless-state.json: the service configuration with every variable resolved."""
        return json.loads((self.directory / "serverless-state.json").read_text())

    @property
    def zip_path(self) -> Path:
        return self.directory / f"{SERVICE}.zip"

    @property
    def function(self) -> dict:
        return self.update_template["Resources"]["ApiLambdaFunction"]

    def resources(self, resource_type: str) -> dict:
        return {k: v for k, v in self.update_template["Resources"].items() if v["Type"] == resource_type}

    def hook(self, event: str) -> str:
        """The shell command of a serverless-plugin-scripts hook, variables resolved for this stage.

        The plugin runs it with /bin/sh in serverless's working directory, the repository root: run it the same way.
        """
        return self.state["service"]["custom"]["scripts"]["hooks"][event]

    def hook_argv(self, event: str) -> list[str]:
        """The hook's command split as /bin/sh splits it: the program, the script under scripts/, its arguments."""
        return shlex.split(self.hook(event))


def unpack(zip_path: Path, directory: Path) -> Path:
    """Extract a zip into a new, empty folder, as Lambda does into /var/task."""
    directory.mkdir(parents=True)
    assert not any(directory.iterdir())
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(directory)
    return directory


def aws_client(service: str, endpoint: str):
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def handler_environment(variables: dict, dynamodb_endpoint: str) -> dict:
    """What the function sees: its configured variables, plus what Lambda (or the local stage) adds."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_CONFIG_FILE": os.devnull,  # no profile of this machine may leak in
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **variables,
        **FAKE_CREDENTIALS,
        "AWS_REGION": REGION,  # Lambda sets it; the function's configuration must not
        "AWS_DEFAULT_REGION": REGION,
        "DYNAMODB_ENDPOINT_URL": dynamodb_endpoint,
    }


def create_tables_from_template(dynamodb, template: dict, names: dict[str, str]) -> None:
    """Create {logical id: table name} on an endpoint from the packaged template's own table properties."""
    fields = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    for logical_id, name in names.items():
        properties = template["Resources"][logical_id]["Properties"]
        dynamodb.create_table(TableName=name, **{f: properties[f] for f in fields if f in properties})
        if "TimeToLiveSpecification" in properties:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=properties["TimeToLiveSpecification"])


def checkov_executable(cache_root: Path) -> str:
    """checkov from $CHECKOV, else from PATH (`make test` puts .venv-checkov/bin there), else from a virtualenv of
    its own made once under `cache_root` from requirements-checkov.txt."""
    configured = os.environ.get("CHECKOV") or shutil.which("checkov")
    if configured:
        return configured
    pins = REPO / "requirements-checkov.txt"
    requirements = ["-r", str(pins)] if pins.exists() else [f"checkov=={CHECKOV_VERSION}"]
    home = cache_root / f"checkov-{CHECKOV_VERSION}"
    executable = home / "bin" / "checkov"
    if not executable.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
        run([str(home / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements])
    return str(executable)


def strings_in(value):
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def assert_lifecycle(requests: list[dict]) -> None:
    """The answers lambda_runner's lifecycle scenario must get, in order."""
    steps = [(r["method"], r["path"].replace(requests[2]["body"]["event_id"], "{id}"), r["status"]) for r in requests]
    assert steps == [
        ("GET", "/v1/health", 200),
        ("GET", "/v1/health/ready", 200),
        ("POST", "/v1/events", 201),
        ("GET", "/v1/events/{id}", 200),
        ("GET", "/v1/inbox", 200),
        ("POST", "/v1/events/{id}/ack", 200),
        ("DELETE", "/v1/events/{id}", 200),
        ("GET", "/v1/events/{id}", 404),
        ("GET", "/v1/inbox", 401),
    ], requests
    health, ready, created, fetched, inbox, acked, deleted, gone, unknown_key = requests
    event_id = created["body"]["event_id"]
    assert created["body"]["status"] == "pending"
    assert created["body"]["created_at"] and created["body"]["request_id"]
    assert fetched["body"]["event_id"] == event_id
    assert fetched["body"]["payload"] == {"invoice_id": "inv_rehearsal", "n": 1}
    assert event_id in [event["event_id"] for event in inbox["body"]["events"]]
    assert "next_cursor" in inbox["body"] and inbox["body"]["request_id"]
    assert acked["body"]["status"] == "acknowledged"
    assert deleted["body"]["deleted"] is True
    for problem in (gone, unknown_key):
        assert problem["headers"]["content-type"].startswith("application/problem+json")
