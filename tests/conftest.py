"""Shared fixtures: a moto DynamoDB server, tables from serverless.yml, the test stage's settings, API keys for
fresh tenants, and a client that drives the Lambda handler with API Gateway REST events.

Tests never share a tenant: each key fixture makes a new one, so tests cannot see each other's events. Nothing
here edits the environment: the app is built from explicit settings (tests/support.py).
"""

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import dynamodb_tables, moto_dynamodb
from tests.support import (
    STAGE,
    EventStream,
    Receiver,
    client_for,
    drain,
    handler_for,
    invoke,
    queue_client_for,
    stage_settings,
    unique,
    workers_for,
)
from triggers.auth.api_keys import generate_key, hash_key
from triggers.settings import Settings
from triggers.storage.api_keys import ApiKeyRecord, ApiKeyStore
from triggers.workers import deliver_handler, fanout_handler, jobs_handler

# The coverage gate (`make test`: the Makefile's COVERAGE, pyproject.toml's [tool.coverage]) counts what the fast
# suites exercise, the ones `make check` runs. The others run untraced (pytest-cov's `no_cover`): deploy, stage and
# bench run the app in other processes, where nothing is measured anyway, and contract and properties run it again in
# this one under hypothesis, where tracing every line and branch cost about 70 s of CPU for one point of coverage
# (README, "Two commands": the figures).
UNTRACED_SUITES = {"contract", "properties", "deploy", "stage", "bench"}
# Run first (after the grouped suites, which pytest-xdist hands out before anything else, and which have a moto of
# their own): moto answers a Query on an index by reading every item of the table, and these suites send thousands,
# so on a worker's moto that the other suites had filled they ran three to four times slower (docs/performance.md).
FIRST_SUITES = ("properties", "contract")
TESTS = Path(__file__).parent


def suite(item: pytest.Item) -> str:
    path = Path(str(item.fspath))
    return path.relative_to(TESTS).parts[0] if TESTS in path.parents else ""


def pytest_collection_modifyitems(items):
    for item in items:
        if suite(item) in UNTRACED_SUITES:
            item.add_marker(pytest.mark.no_cover)
    items.sort(key=lambda item: suite(item) not in FIRST_SUITES)  # stable: each suite keeps its order


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server for the whole run."""
    port = moto_dynamodb.free_port()
    process = moto_dynamodb.start(port)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def settings(moto_endpoint) -> Settings:
    return stage_settings(moto_endpoint)


@pytest.fixture(scope="session")
def dynamodb_client(settings):
    """The client the app uses, with the tables of serverless.yml created on moto."""
    client = client_for(settings)
    dynamodb_tables.ensure_tables(
        client, {kind: dynamodb_tables.table_name(kind, STAGE) for kind in dynamodb_tables.TABLE_RESOURCES}
    )
    return client


@pytest.fixture(scope="session")
def queue_client(settings):
    """An SQS client on moto, with the jobs and push queues created (the local stage makes them from serverless.yml)."""
    client = queue_client_for(settings)
    client.create_queue(QueueName=settings.jobs_queue)
    client.create_queue(QueueName=settings.push_queue)
    return client


@pytest.fixture(scope="session")
def lambda_handler(settings, dynamodb_client, queue_client):
    """The Lambda handler of one long-lived container, built as the entry point builds it."""
    return handler_for(settings, dynamodb_client)


@pytest.fixture
def make_api_key(settings, dynamodb_client):
    """Create an active key for a new tenant (or the given one); returns (key, tenant)."""
    store = ApiKeyStore(dynamodb_client, settings.keys_table)

    def make(tenant: str | None = None, **fields) -> tuple[str, str]:
        """`fields`: more of ApiKeyRecord's (scopes, sources, event_types, expires_at)."""
        tenant = tenant or unique("tenant")
        key = generate_key()
        assert store.insert(ApiKeyRecord(hash_key(key), tenant, "test", True, "2026-11-22T00:00:00.000000Z", **fields))
        return key, tenant

    return make


@pytest.fixture
def call(lambda_handler):
    """Send one request through the Lambda handler: call("POST", "/v1/events", key=..., body={...})."""

    def send(method, path, **options):
        return invoke(lambda_handler, method, path, **options)

    return send


@pytest.fixture(scope="session")
def workers(settings, dynamodb_client, queue_client):
    """The services of one stream/queue function container (the fan-out and the job runner)."""
    return workers_for(settings, dynamodb_client)


@pytest.fixture
def stream(settings, workers):
    """The events table's stream from now on; `stream.pump()` runs the fan-out function on what arrived."""
    return EventStream(settings, fanout_handler(workers.fanout))


@pytest.fixture
def run_jobs(settings, queue_client, workers):
    """run_jobs(): feed every message waiting in the jobs queue to the jobs function, as Lambda's SQS poller would,
    until the queue is empty; returns how many messages ran."""
    return lambda: drain(queue_client, settings.jobs_queue, jobs_handler(workers.jobs))


# Push: the app and the deliver function built with the local stage's setting that allows http://127.0.0.1 targets
# (the receiver's), and a 1 s send timeout.


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1 (tests/support.py): what it got, and the statuses it answers."""
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def push_settings(settings):
    return dataclasses.replace(settings, push_allow_private_targets=True, push_timeout_seconds=1.0)


@pytest.fixture(scope="module")
def push_api(push_settings, dynamodb_client, queue_client):
    return handler_for(push_settings, dynamodb_client)


@pytest.fixture(scope="module")
def run_pushes(push_settings, dynamodb_client, queue_client):
    """run_pushes(wait_seconds=0): run the deliver function on every message in the push queue until it is empty."""
    handler = deliver_handler(workers_for(push_settings, dynamodb_client).push)
    return lambda wait_seconds=0: drain(queue_client, push_settings.push_queue, handler, wait_seconds)
