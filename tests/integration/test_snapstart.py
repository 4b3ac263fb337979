"""The API container under Lambda SnapStart (triggers/snapstart.py): init makes nothing that must differ per
container or stay fresh, and a container restored from the snapshot redoes what would otherwise be shared.

The snapshot itself cannot be taken here; `Runtime` plays the part of Lambda's Python runtime around it: it takes
the hooks the code registers with `snapshot_restore_py`, runs the before-snapshot ones in reverse order of
registration, and the after-restore ones in order, for each container it "restores". What a restored container
holds in memory is what the snapshotted one held: the same objects, the same `random` state.
"""

import json
import random
import secrets
import threading

import pytest
from botocore.client import BaseClient

from tests.support import assert_problem, invoke, new_event, stage_settings
from triggers import snapstart
from triggers.app import create_app
from triggers.http.wsgi import lambda_handler


class Runtime:
    """The registry of `snapshot_restore_py` (register_before_snapshot / register_after_restore), and what Lambda
    does with it."""

    def __init__(self) -> None:
        self.before: list = []
        self.after: list = []

    def register_before_snapshot(self, func, *args, **kwargs):
        self.before.append((func, args, kwargs))
        return func

    def register_after_restore(self, func, *args, **kwargs):
        self.after.append((func, args, kwargs))
        return func

    def snapshot(self) -> object:
        for func, args, kwargs in reversed(self.before):
            func(*args, **kwargs)
        return random.getstate()  # the part of the process a test can put back for each restore

    def restore(self, snapshot: object) -> None:
        random.setstate(snapshot)  # type: ignore[arg-type]
        for func, args, kwargs in self.after:
            func(*args, **kwargs)


@pytest.fixture
def container(moto_endpoint, dynamodb_client, queue_client, ssm, parameter):
    """container(runtime) -> the API's handler built as handlers/lambda_handler.py builds it, on a stage that names
    its cursor secret parameter, with its hooks registered with `runtime`."""
    settings = stage_settings(
        moto_endpoint, CURSOR_SECRET="", CURSOR_SECRET_PARAMETER=parameter.name, SSM_ENDPOINT_URL=moto_endpoint
    )

    def app():
        return lambda_handler(create_app(settings, dynamodb_client, queue_client, ssm))

    def build(runtime: Runtime) -> snapstart.RestorableHandler:
        return snapstart.restorable(app, settings, ssm, hooks=runtime)

    return build


def test_init_calls_no_aws_api_but_the_secrets_read_and_starts_no_thread(container, parameter, monkeypatch):
    """Nothing connected in the snapshot: no DynamoDB or SQS call (the clients are made, not used), no worker thread,
    no event loop thread; the one call is the cursor secret's read, which a restore repeats."""
    parameter(secrets.token_hex(32))
    calls = []
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def recording(client, operation, params):
        calls.append((client.meta.service_model.service_name, operation))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    threads = set(threading.enumerate())
    container(Runtime())
    assert calls == [("ssm", "GetParameter")]
    assert set(threading.enumerate()) == threads


def test_each_restored_container_draws_its_own_random_numbers(container, parameter):
    parameter(secrets.token_hex(32))
    runtime = Runtime()
    container(runtime)
    snapshot = runtime.snapshot()
    # What a snapshot shares: the same state, the same numbers (botocore's retry jitter draws from it).
    random.setstate(snapshot)  # type: ignore[arg-type]
    unseeded = random.random()
    random.setstate(snapshot)  # type: ignore[arg-type]
    assert random.random() == unseeded
    draws = []
    for _ in range(3):
        runtime.restore(snapshot)
        draws.append(random.random())
    assert len(set(draws)) == 3 and unseeded not in draws


def test_a_restore_keeps_the_app_while_the_secret_is_unchanged(container, parameter):
    parameter(secrets.token_hex(32))
    runtime = Runtime()
    handler = container(runtime)
    snapshotted = handler.handler
    snapshot = runtime.snapshot()
    runtime.restore(snapshot)
    assert handler.handler is snapshotted  # nothing built again: the restore costs one GetParameter
    assert invoke(handler, "GET", "/v1/health").status == 200


def test_a_restore_after_a_rotation_signs_and_checks_cursors_with_the_new_secret(container, parameter, make_api_key):
    """The rotation of docs/deploy.md, against a version published before it: a container restored after each step
    holds the parameter's value of that moment, not the snapshot's."""
    old, new = secrets.token_hex(32), secrets.token_hex(32)
    key, _ = make_api_key()
    parameter(old)
    runtime = Runtime()
    published = container(runtime)
    for _ in range(3):
        assert invoke(published, "POST", "/v1/events", key=key, body=new_event()).status == 201
    old_cursor = invoke(published, "GET", "/v1/inbox", key=key, query={"limit": "1"}).json["next_cursor"]
    snapshot = runtime.snapshot()

    parameter(f"{new},{old}")  # new signs, old still accepted
    runtime.restore(snapshot)
    during = invoke(published, "GET", "/v1/inbox", key=key, query={"limit": "1", "cursor": old_cursor})
    assert during.status == 200
    new_cursor = during.json["next_cursor"]

    parameter(new)  # old retired
    runtime.restore(snapshot)
    assert invoke(published, "GET", "/v1/inbox", key=key, query={"limit": "1", "cursor": new_cursor}).status == 200
    assert_problem(invoke(published, "GET", "/v1/inbox", key=key, query={"cursor": old_cursor}), 400)


def test_a_restore_that_cannot_read_the_secret_keeps_the_snapshots_app(container, parameter, capsys):
    """A new container would not start; a restored one holds a secret that was valid at publish, and serves."""
    parameter(secrets.token_hex(32))
    runtime = Runtime()
    handler = container(runtime)
    snapshotted = handler.handler
    snapshot = runtime.snapshot()
    parameter.delete()
    runtime.restore(snapshot)
    assert handler.handler is snapshotted
    assert invoke(handler, "GET", "/v1/health").status == 200
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (line,) = [line for line in lines if line["logger"] == "triggers.snapstart"]  # the app's JSON log line
    assert line["level"] == "ERROR" and "ParameterNotFound" in line["message"]


def test_a_snapshot_that_could_not_read_the_secret_builds_the_app_at_each_restore(container, parameter):
    """Nothing to compare with: a restore builds the app again (slower, never stale) rather than the publish fail."""
    parameter(secrets.token_hex(32))
    runtime = Runtime()
    handler = container(runtime)
    snapshotted = handler.handler
    parameter.delete()
    snapshot = runtime.snapshot()
    parameter(secrets.token_hex(32))
    runtime.restore(snapshot)
    assert handler.handler is not snapshotted
    assert invoke(handler, "GET", "/v1/health").status == 200


def test_the_hooks_go_to_the_runtime(container, parameter):
    parameter(secrets.token_hex(32))
    runtime = Runtime()
    handler = container(runtime)
    assert [func for func, _, _ in runtime.before] == [handler.before_snapshot]
    assert [func for func, _, _ in runtime.after] == [handler.after_restore]
    # Locally, in the tests and in the deploy rehearsal there is no `snapshot_restore_py`: nothing is registered.
    assert snapstart.runtime_hooks is None
