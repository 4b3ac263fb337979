"""Schemathesis over every operation, in-process through the WSGI side of the Lambda adapter, all checks on.

Each generated request goes through the same WsgiAdapter and Connexion app that aws-wsgi drives on Lambda, with
response validation on, against the moto tables.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

FUZZ_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
    database=None,
)


@pytest.fixture(scope="session")
def api_schema(lambda_handler, fuzz_key):
    """The served spec; schemathesis.toml (auth from TRIGGERS_API_KEY, narrowed check exceptions) applies."""
    from handlers.lambda_handler import wsgi_app

    os.environ["TRIGGERS_API_KEY"] = fuzz_key
    return schemathesis.openapi.from_wsgi("/v1/openapi.json", wsgi_app)


@pytest.fixture(scope="session")
def fuzz_key(dynamodb_client):
    """One tenant for the whole fuzzing run (made like make_api_key, but once per session)."""
    from scripts.dynamodb_tables import table_name
    from tests.conftest import STAGE, unique
    from triggers.auth.api_keys import generate_key, hash_key
    from triggers.storage import api_keys

    key = generate_key()
    api_keys.insert(
        api_keys.ApiKeyRecord(hash_key(key), unique("fuzz"), "fuzz", True, "2026-11-22T00:00:00.000000Z"),
        table_name("keys", STAGE),
    )
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
