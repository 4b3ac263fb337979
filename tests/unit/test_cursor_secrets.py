"""Cursor secrets: at least 32 bytes each, `new,old` during a rotation, and how the settings take them."""

import pytest

from triggers.domain.cursors import MIN_SECRET_BYTES, CursorSigner, parse_secrets
from triggers.domain.errors import InvalidCursor
from triggers.settings import from_environment

OLD = b"o" * MIN_SECRET_BYTES
NEW = b"n" * MIN_SECRET_BYTES
POSITION = ("2026-11-22T00:00:00.000000Z#evt_1", "tenant#evt_1")


def test_one_secret_or_new_then_old():
    assert parse_secrets(NEW.decode(), "X") == (NEW,)
    assert parse_secrets(f" {NEW.decode()} , {OLD.decode()}\n", "X") == (NEW, OLD)


@pytest.mark.parametrize("value", ["", ",", f"{NEW.decode()},", f",{OLD.decode()}"])
def test_an_empty_secret_is_refused(value):
    with pytest.raises(ValueError, match="X holds no cursor secret, or an empty one"):
        parse_secrets(value, "X")


def test_a_short_secret_is_refused_without_showing_it():
    short = "s" * (MIN_SECRET_BYTES - 1)
    with pytest.raises(ValueError, match="cursor secret number 2 has fewer than 32 bytes") as refused:
        parse_secrets(f"{NEW.decode()},{short}", "SSM parameter /p")
    assert short not in str(refused.value) and "SSM parameter /p" in str(refused.value)


def test_a_rotation_signs_with_the_new_secret_and_accepts_both():
    before, during, after = CursorSigner(OLD), CursorSigner(NEW, OLD), CursorSigner(NEW)
    old_cursor = before.encode(POSITION, "acme")
    assert during.decode(old_cursor, "acme", 2) == POSITION  # issued before the rotation, still good
    new_cursor = during.encode(POSITION, "acme")
    assert new_cursor == after.encode(POSITION, "acme")  # signed with the first secret
    assert after.decode(new_cursor, "acme", 2) == POSITION
    with pytest.raises(InvalidCursor):
        after.decode(old_cursor, "acme", 2)  # the old secret dropped: its cursors are refused
    with pytest.raises(InvalidCursor):
        during.decode(old_cursor, "another-tenant", 2)


def test_a_scoped_signer_rotates_too():
    old_cursor = CursorSigner(OLD).scoped("events").encode(POSITION, "acme")
    during = CursorSigner(NEW, OLD)
    assert during.scoped("events").decode(old_cursor, "acme", 2) == POSITION
    with pytest.raises(InvalidCursor):
        during.scoped("inbox").decode(old_cursor, "acme", 2)  # still one listing's cursor only
    with pytest.raises(InvalidCursor):
        during.decode(old_cursor, "acme", 2)


def test_settings_take_the_secret_directly_or_a_parameter_name():
    direct = from_environment({"CURSOR_SECRET": f"{NEW.decode()},{OLD.decode()}"})
    assert (direct.cursor_secrets, direct.cursor_secret_parameter) == ((NEW, OLD), None)
    named = from_environment({"CURSOR_SECRET_PARAMETER": "/triggers-api/prod/cursor-secret"})
    assert (named.cursor_secrets, named.cursor_secret_parameter) == ((), "/triggers-api/prod/cursor-secret")
    assert from_environment({"CURSOR_SECRET": NEW.decode(), "CURSOR_SECRET_PARAMETER": ""}).cursor_secrets == (NEW,)


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({}, "CURSOR_SECRET_PARAMETER .* or CURSOR_SECRET must be set"),
        ({"CURSOR_SECRET": "too-short"}, "CURSOR_SECRET: cursor secret number 1 has fewer than 32 bytes"),
        ({"CURSOR_SECRET": NEW.decode(), "CURSOR_SECRET_PARAMETER": "/p"}, "not both"),
    ],
)
def test_settings_refuse_a_missing_short_or_doubly_given_secret(environment, message):
    with pytest.raises(ValueError, match=message):
        from_environment(environment)
