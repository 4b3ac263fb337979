"""Schemathesis over every operation, in-process through the WSGI side of the Lambda adapter, all checks on.

Each generated request goes through the same WsgiAdapter and Connexion app that aws-wsgi drives on Lambda, with
response validation on, against the moto tables.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

import scripts.fuzz_hooks  # noqa: F401 (registers the hooks: long-poll waits cut to 0)
from tests.support import unique
from triggers.app import create_app
from triggers.auth.api_keys import generate_key, hash_key
from triggers.http.wsgi import WsgiAdapter
from triggers.storage.api_keys import ApiKeyRecord, ApiKeyStore

FUZZ_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
    database=None,
)


@pytest.fixture(scope="session")
def api_schema(settings, dynamodb_client, queue_client, fuzz_key):
    """The served spec, every request sent with the fuzzing tenant's key; schemathesis.toml (narrowed check
    exceptions) applies."""
    app = WsgiAdapter(create_app(settings, dynamodb_client, queue_client))
    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", app)

    @schema.auth()
    class FuzzKey:
        def get(self, case, ctx):
            return fuzz_key

        def set(self, case, data, ctx):
            case.headers = {**(case.headers or {}), "X-API-Key": data}

    return schema


@pytest.fixture(scope="session")
def fuzz_key(settings, dynamodb_client):
    """One tenant for the whole fuzzing run (made like make_api_key, but once per session)."""
    key = generate_key()
    store = ApiKeyStore(dynamodb_client, settings.keys_table)
    assert store.insert(ApiKeyRecord(hash_key(key), unique("fuzz"), "fuzz", True, "2026-11-22T00:00:00.000000Z"))
    return key


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_keeps_the_contract(case):
    case.call_and_validate()


def test_stateful_links_keep_the_contract(api_schema):
    """POST /v1/events, then follow its links to get, ack and delete what it created."""
    run_state_machine_as_test(
        api_schema.as_state_machine(),
        settings=settings(
            max_examples=40,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
