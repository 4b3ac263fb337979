"""The key tool, run as operators run it, against the moto server: create → use → revoke → 401."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import AWS, STAGE, unique

ROOT = Path(__file__).resolve().parents[2]
# What an operator's shell holds: credentials and a region (moto accepts any).
OPERATOR_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": AWS["aws_access_key_id"],
    "AWS_SECRET_ACCESS_KEY": AWS["aws_secret_access_key"],
    "AWS_DEFAULT_REGION": AWS["region_name"],
}


def run(*args, stdin=None):
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **OPERATOR_AWS_ENVIRONMENT},
        timeout=60,
    )


def keys_cli(*args):
    return run("-m", "triggers.cli.api_keys", *args)


def test_help():
    result = keys_cli("--help")
    assert result.returncode == 0
    assert "create" in result.stdout and "revoke" in result.stdout


def test_create_use_list_revoke(call, moto_endpoint):
    tenant = unique("cli")
    created = keys_cli(
        "create", "--stage", STAGE, "--tenant", tenant, "--name", "ci robot", "--endpoint-url", moto_endpoint
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("trg_") and len(key) >= 4 + 43
    key_id = created.stdout.split("Created key ")[1].split()[0]

    assert call("POST", "/v1/events", key=key, body={"source": "s", "event_type": "t", "payload": {}}).status == 201

    listed = keys_cli("list", "--stage", STAGE, "--endpoint-url", moto_endpoint)
    assert listed.returncode == 0
    assert key_id in listed.stdout and tenant in listed.stdout
    assert key not in listed.stdout

    revoked = keys_cli("revoke", "--stage", STAGE, "--key-id", key_id, "--endpoint-url", moto_endpoint)
    assert revoked.returncode == 0, revoked.stderr
    assert call("GET", "/v1/inbox", key=key).status == 401

    trail = keys_cli("audit", "--stage", STAGE, "--tenant", tenant, "--endpoint-url", moto_endpoint)
    assert trail.returncode == 0, trail.stderr
    actions = [line.split()[2] for line in trail.stdout.splitlines()[1:-1]]
    assert actions == ["key.revoke", "key.create"]  # newest first
    assert all("cli:" in line and key_id in line for line in trail.stdout.splitlines()[1:-1])


def test_a_key_made_with_scopes_and_an_expiry_holds_only_those(call, moto_endpoint):
    tenant = unique("cli")
    created = keys_cli(
        "create", "--stage", STAGE, "--tenant", tenant, "--endpoint-url", moto_endpoint,
        "--scope", "events:write", "--scope", "inbox:read", "--expires-in", "2h",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "Scopes: events:write, inbox:read; expires: 20" in created.stdout
    key = created.stdout.strip().splitlines()[-1]
    assert call("POST", "/v1/events", key=key, body={"source": "s", "event_type": "t", "payload": {}}).status == 201
    assert call("GET", "/v1/inbox", key=key).status == 200
    assert call("GET", "/v1/subscriptions", key=key).status == 403
    listed = keys_cli("list", "--stage", STAGE, "--endpoint-url", moto_endpoint).stdout
    [line] = [line for line in listed.splitlines() if tenant in line]
    assert "events:write,inbox:read" in line and "never" not in line.split()[4]  # expires, and was used


@pytest.mark.parametrize("expires_in", ["2 hours", "0d", "7w", "1y"])
def test_a_bad_expiry_is_refused_before_anything_is_written(moto_endpoint, expires_in):
    tenant = unique("cli")
    result = keys_cli(
        "create", "--stage", STAGE, "--tenant", tenant, "--endpoint-url", moto_endpoint, "--expires-in", expires_in
    )
    assert result.returncode == 1 and "--expires-in" in result.stderr
    assert tenant not in keys_cli("list", "--stage", STAGE, "--endpoint-url", moto_endpoint).stdout


def test_seed_script_keeps_the_seeds_flags(call, moto_endpoint):
    key = "seeded-" + unique("key")
    result = run(
        "scripts/seed_api_keys.py",
        "--api-key",
        key,
        "--source",
        "zapier",
        "--stage",
        STAGE,
        "--region",
        "us-east-1",
        "--endpoint-url",
        moto_endpoint,
    )
    assert result.returncode == 0, result.stderr
    assert key not in result.stdout
    assert call("GET", "/v1/inbox", key=key).status == 200
    again = run("scripts/seed_api_keys.py", "--api-key", key, "--stage", STAGE, "--endpoint-url", moto_endpoint)
    assert again.returncode == 1
    assert "exists already" in again.stderr


def test_prod_needs_confirmation(moto_endpoint):
    result = keys_cli("create", "--stage", "prod", "--tenant", "t", "--endpoint-url", moto_endpoint)
    assert result.returncode == 1
    assert "--yes" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--stage", STAGE, "--tenant", "bad tenant!"], "a tenant must be"),
        (["revoke", "--stage", STAGE, "--key-id", "000000000000"], "no key with id"),
        (["list", "--stage", "no-such-stage"], "ResourceNotFoundException"),
    ],
)
def test_failures_are_one_clear_line_and_exit_1(moto_endpoint, dynamodb_client, args, message):
    # dynamodb_client: the stage's tables exist, whichever tests ran before on this pytest-xdist worker.
    result = keys_cli(*args, "--endpoint-url", moto_endpoint)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_endpoint_is_a_clear_error():
    result = keys_cli("list", "--stage", STAGE, "--endpoint-url", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert "cannot reach DynamoDB" in result.stderr
