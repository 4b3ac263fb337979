"""Fixtures of the tests against the running local stage (scripts/local_stage.py), started once per session.

The stage runs on free ports, with the real `serverless offline` (and its stream and SQS plugins) and moto; its
output goes to a log file whose end is shown when it fails to start. Each test that needs a tenant makes a new one
(`make_key`), so tests never see each other's events. The generated clients are written to build/clients/
(git-ignored) at test time.

These tests carry the `stage` marker: `-m "not stage"` leaves them out.
"""

from contextlib import contextmanager
from pathlib import Path

import pytest
from stage_support import RATE_LIMIT_PER_MINUTE, free_ports

from scripts import local_stage
from tests.support import unique

HERE = Path(__file__).parent


def pytest_configure(config):
    config.addinivalue_line("markers", "stage: tests against the running local stage (tests/stage)")


# tryfirst: pytest-xdist reads `xdist_group` in a hook of its own, registered after this conftest when pytest is
# given this folder's path (not when it collects from the root), so without it the group would be ignored.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.stage)
            item.add_marker(pytest.mark.xdist_group("stage"))  # one pytest-xdist worker: the session stage made once


@contextmanager
def running_stage(tmp_path_factory):
    """A local stage, as `python -m scripts.local_stage` starts it, with rate limits no test reaches."""
    log_path = tmp_path_factory.mktemp("local-stage") / "stage.log"
    api_port, dynamodb_port, sqs_port, lambda_port = free_ports(4)
    with log_path.open("w") as log:
        try:
            running = local_stage.start(
                api_port=api_port,
                dynamodb_port=dynamodb_port,
                sqs_port=sqs_port,
                lambda_port=lambda_port,
                params={
                    "rateLimitPerMinute": str(RATE_LIMIT_PER_MINUTE),
                    # Every request comes from 127.0.0.1, and the fuzzing sends many without a valid key.
                    "rateLimitPerAddressPerMinute": str(RATE_LIMIT_PER_MINUTE),
                },
                output=log,
                progress=lambda message: None,
            )
        except local_stage.StageError as exc:
            pytest.fail(f"the local stage did not start: {exc}\n{log_path.read_text()[-4000:]}", pytrace=False)
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="session")
def stage(tmp_path_factory):
    """The local stage the suites share."""
    with running_stage(tmp_path_factory) as running:
        yield running


@pytest.fixture(scope="module")
def own_stage(tmp_path_factory):
    """A stage of the module's own, for the suites that store thousands of events (the load tests, the fuzzing).
    moto answers a Query on an index by reading every item of the table (DynamoDB reads only the items it returns),
    and the one fan-out reads the stream in order: on the shared stage, every later request would be slower, and a
    later test's event would wait behind thousands of stream records (a push test once waited over 30 s)."""
    with running_stage(tmp_path_factory) as running:
        yield running


@pytest.fixture
def make_key(stage):
    """A key of a new tenant of the stage: make_key() → key."""
    return lambda prefix="stage": stage.create_key(unique(prefix))
