"""A deployed stage's cursor secret: a SecureString in SSM Parameter Store (moto's), named by
CURSOR_SECRET_PARAMETER, read by the real composition root once per container, and rotated with `new,old`."""

import secrets

import pytest

from tests.support import assert_problem, handler_for, invoke, new_event, stage_settings, unique
from triggers.app import create_app
from triggers.services import create_workers, cursor_signer
from triggers.storage.secrets import SecretUnavailable


def settings_naming(moto_endpoint, name):
    return stage_settings(moto_endpoint, CURSOR_SECRET="", CURSOR_SECRET_PARAMETER=name, SSM_ENDPOINT_URL=moto_endpoint)


class Container:
    """One API container: its app built once, as the entry point builds it (the secret read then, never again)."""

    def __init__(self, settings, dynamodb_client, queue_client, ssm):
        from triggers.http.wsgi import lambda_handler

        self.handler = lambda_handler(create_app(settings, dynamodb_client, queue_client, ssm))

    def call(self, method, path, **kwargs):
        return invoke(self.handler, method, path, **kwargs)


def test_the_api_signs_cursors_with_the_parameter_and_rotates(
    moto_endpoint, dynamodb_client, queue_client, ssm, parameter, make_api_key
):
    old, new = secrets.token_hex(32), secrets.token_hex(32)
    settings = settings_naming(moto_endpoint, parameter.name)
    key, _ = make_api_key()

    parameter(old)
    before = Container(settings, dynamodb_client, queue_client, ssm)
    for _ in range(3):
        assert before.call("POST", "/v1/events", key=key, body=new_event()).status == 201
    old_cursor = before.call("GET", "/v1/inbox", key=key, query={"limit": "1"}).json["next_cursor"]
    assert old_cursor

    parameter(f"{new},{old}")  # the rollover: new containers sign with `new`, accept both
    during = Container(settings, dynamodb_client, queue_client, ssm)
    page = during.call("GET", "/v1/inbox", key=key, query={"limit": "1", "cursor": old_cursor})
    assert page.status == 200
    new_cursor = page.json["next_cursor"]
    # The container started before keeps its secret (read once): its cursors still verify here, not `new`'s there.
    assert before.call("GET", "/v1/inbox", key=key, query={"limit": "1", "cursor": old_cursor}).status == 200

    parameter(new)  # the old secret retired
    after = Container(settings, dynamodb_client, queue_client, ssm)
    assert after.call("GET", "/v1/inbox", key=key, query={"limit": "1", "cursor": new_cursor}).status == 200
    assert_problem(after.call("GET", "/v1/inbox", key=key, query={"cursor": old_cursor}), 400)


def test_the_workers_read_it_too(moto_endpoint, dynamodb_client, queue_client, ssm, parameter):
    parameter(secrets.token_hex(32))
    settings = settings_naming(moto_endpoint, parameter.name)
    assert create_workers(settings, dynamodb_client, queue_client, ssm).fanout  # the parameter resolved at start-up
    parameter("short")
    with pytest.raises(ValueError, match="fewer than 32 bytes"):
        create_workers(settings, dynamodb_client, queue_client, ssm)


def test_a_short_secret_stops_the_container_without_showing_it(moto_endpoint, ssm, parameter):
    parameter("short-secret")
    with pytest.raises(ValueError, match=f"SSM parameter {parameter.name}: cursor secret number 1 has fewer") as e:
        cursor_signer(settings_naming(moto_endpoint, parameter.name), ssm)
    assert "short-secret" not in str(e.value)


def test_a_plain_string_parameter_is_refused(moto_endpoint, ssm, parameter):
    parameter(secrets.token_hex(32), "String")
    with pytest.raises(SecretUnavailable, match="must be a SecureString, not String"):
        cursor_signer(settings_naming(moto_endpoint, parameter.name), ssm)


def test_a_missing_parameter_names_it(moto_endpoint, ssm):
    name = f"/triggers-api/test/{unique('missing')}"
    with pytest.raises(SecretUnavailable, match=f"SSM parameter {name} cannot be read \\(ParameterNotFound\\)"):
        cursor_signer(settings_naming(moto_endpoint, name), ssm)


def test_without_a_parameter_name_the_secret_is_given_directly(moto_endpoint, dynamodb_client):
    settings = stage_settings(moto_endpoint)
    assert settings.cursor_secret_parameter is None
    assert cursor_signer(settings).secret == settings.cursor_secrets[0]  # no SSM client is made
    assert handler_for(settings, dynamodb_client)
