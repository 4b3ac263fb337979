"""Manage the API keys of a stage: create (the key is printed once), list (never a secret), revoke; and read a
tenant's audit trail (key changes are recorded in it).

Works against AWS (credentials and region from the usual AWS settings or --region) or any DynamoDB endpoint
(--endpoint-url, e.g. the local stage's moto server). Exit status 0 on success, 1 on failure, 2 on bad usage.
"""

import argparse
import getpass
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta

import boto3

from triggers.auth.api_keys import generate_key, hash_key
from triggers.cli.aws_failures import exit_status
from triggers.domain.model import AuditEntry, format_time
from triggers.settings import table_name
from triggers.storage.api_keys import SCOPES, ApiKeyRecord, ApiKeyStore
from triggers.storage.audit import AuditStore

PROTECTED_STAGES = {"prod", "production"}
_KEY_FORMAT = re.compile(r"[A-Za-z0-9_\-]{16,256}")
_TENANT_FORMAT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DURATION = re.compile(r"([1-9][0-9]{0,5})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
TABLE_HINTS = {"ResourceNotFoundException": " (is the stage deployed, and the table name right?)"}


class CommandError(Exception):
    """A failure to report in one line, without a stack trace."""


def _client(args):
    return boto3.Session(region_name=args.region).client("dynamodb", endpoint_url=args.endpoint_url or None)


def _connect(args) -> ApiKeyStore:
    """The keys table of the stage the arguments name: credentials and region from the usual AWS settings."""
    return ApiKeyStore(_client(args), args.table or table_name("keys", args.stage))


def _audit(args) -> AuditStore:
    return AuditStore(_client(args), table_name("audit", args.stage))


def _record(args, tenant_id: str, action: str, key_id: str) -> None:
    """The tenant's audit trail gets the change, with the operator's login name as its actor."""
    entry = AuditEntry(
        tenant_id, str(uuid.uuid4()), format_time(datetime.now(UTC)), f"cli:{getpass.getuser()}", action, key_id
    )
    _audit(args).add(entry)


def _confirm(stage: str, action: str, assume_yes: bool) -> None:
    if stage not in PROTECTED_STAGES or assume_yes:
        return
    if not sys.stdin.isatty():
        raise CommandError(f"refusing to {action} on stage '{stage}' without confirmation: pass --yes")
    answer = input(f"About to {action} on stage '{stage}'. Type the stage name to go on: ")
    if answer.strip() != stage:
        raise CommandError("not confirmed; nothing was written")


def create_key(args, api_key: str | None = None) -> None:
    if api_key is not None and not _KEY_FORMAT.fullmatch(api_key):
        raise CommandError("an API key must be 16-256 characters of letters, digits, '_' or '-'")
    if not _TENANT_FORMAT.fullmatch(args.tenant):
        raise CommandError(
            "a tenant must be 1-64 characters of letters, digits, '.', '_' or '-', starting alphanumeric"
        )
    now = datetime.now(UTC)
    expires_at = None
    if args.expires_in:
        duration = _DURATION.fullmatch(args.expires_in)
        if not duration:
            raise CommandError("--expires-in is a number and a unit: 30m, 12h or 90d")
        expires_at = format_time(now + timedelta(**{_UNITS[duration[2]]: int(duration[1])}))
    store = _connect(args)
    _confirm(args.stage, f"create a key for tenant '{args.tenant}'", args.yes)
    key = api_key or generate_key()
    record = ApiKeyRecord(
        key_hash=hash_key(key),
        tenant_id=args.tenant,
        name=args.name or "",
        is_active=True,
        created_at=format_time(now),
        scopes=tuple(args.scope or SCOPES),
        sources=tuple(args.source or ()),
        event_types=tuple(args.event_type or ()),
        expires_at=expires_at,
    )
    if not store.insert(record):
        raise CommandError(f"this key exists already (key id {record.key_id}); nothing was written")
    _record(args, record.tenant_id, "key.create", record.key_id)
    print(f"Created key {record.key_id} for tenant '{record.tenant_id}' in {store.table}.")
    print(f"Scopes: {', '.join(record.scopes)}; expires: {record.expires_at or 'never'}.")
    if api_key is None:
        print("The key is shown only now; store it safely:")
        print(key)


def list_keys(args) -> None:
    store = _connect(args)
    records = store.list_all()
    print(f"{'KEY ID':<14}{'TENANT':<24}{'ACTIVE':<8}{'CREATED':<30}{'EXPIRES':<30}{'LAST USED':<30}SCOPES / NAME")
    for record in records:
        active = "yes" if record.is_active else "no"
        print(
            f"{record.key_id:<14}{record.tenant_id:<24}{active:<8}{record.created_at:<30}"
            f"{record.expires_at or 'never':<30}{record.last_used_at or 'never':<30}"
            f"{','.join(record.scopes) or '(none)'} / {record.name}"
        )
    print(f"{len(records)} key(s) in {store.table}")


def revoke_key(args) -> None:
    store = _connect(args)
    if args.api_key:
        found = store.find(hash_key(args.api_key))
    else:
        found = next((record for record in store.list_all() if record.key_id == args.key_id), None)
    if found is None:
        which = f"with id {args.key_id}" if args.key_id else "like this"
        raise CommandError(f"no key {which} in {store.table}")
    key_hash = found.key_hash
    _confirm(args.stage, f"revoke key {key_hash[:12]}", args.yes)
    if not store.deactivate(key_hash):
        raise CommandError(f"no such key in {store.table}")
    _record(args, found.tenant_id, "key.revoke", found.key_id)
    print(f"Revoked key {key_hash[:12]}. Warm containers may accept it for up to API_KEY_CACHE_SECONDS more.")


def show_audit(args) -> None:
    entries, _ = _audit(args).page(args.tenant, args.limit, None)
    print(f"{'AT':<30}{'ACTOR':<24}{'ACTION':<30}{'TARGET':<40}REQUEST")
    for entry in entries:
        print(f"{entry.at:<30}{entry.actor:<24}{entry.action:<30}{entry.target:<40}{entry.request_id or ''}")
    print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} of tenant '{args.tenant}', newest first")


def add_connection_arguments(parser: argparse.ArgumentParser, default_stage: str | None = None) -> None:
    parser.add_argument("--stage", required=default_stage is None, default=default_stage, help="the stage, e.g. dev")
    parser.add_argument("--region", help="AWS region (default: from your AWS configuration)")
    parser.add_argument("--endpoint-url", help="a DynamoDB endpoint instead of AWS, e.g. http://127.0.0.1:8000")
    parser.add_argument("--table", help="the keys table (default: triggers-api-keys-<stage>)")
    parser.add_argument("--yes", action="store_true", help="do not ask before writing to a production stage")


def run(action, args) -> int:
    """Run one action (scripts/seed_api_keys.py too): 0, or 1 after a one-line message."""
    return exit_status(lambda: action(args), CommandError, "DynamoDB", TABLE_HINTS)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triggers.cli.api_keys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create", help="create a key for a tenant and print it once")
    add_connection_arguments(create)
    create.add_argument("--tenant", required=True, help="the tenant the key acts for")
    create.add_argument("--name", help="a note saying who or what uses the key")
    create.add_argument(
        "--scope", action="append", choices=SCOPES, help="a scope the key holds (repeat it; default: all of them)"
    )
    create.add_argument("--source", action="append", help="a `source` the key may write (repeat it; default: any)")
    create.add_argument(
        "--event-type", action="append", help="an `event_type` prefix the key may write (repeat it; default: any)"
    )
    create.add_argument("--expires-in", help="the key stops working after this long: 30m, 12h, 90d (default: never)")

    listing = commands.add_parser("list", help="list the keys of a stage (ids, tenants, states; never secrets)")
    add_connection_arguments(listing)

    revoke = commands.add_parser("revoke", help="revoke a key")
    add_connection_arguments(revoke)
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--key-id", help="the key id shown by list")
    which.add_argument("--api-key", help="the key itself")

    audit = commands.add_parser("audit", help="show a tenant's audit trail, newest first")
    add_connection_arguments(audit)
    audit.add_argument("--tenant", required=True, help="the tenant whose trail to show")
    audit.add_argument("--limit", type=int, default=50, choices=range(1, 101), metavar="1-100", help="entries")

    args = parser.parse_args(argv)
    action = {"create": create_key, "list": list_keys, "revoke": revoke_key, "audit": show_audit}[args.command]
    return run(action, args)


if __name__ == "__main__":
    raise SystemExit(main())
