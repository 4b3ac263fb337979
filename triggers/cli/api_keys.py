"""Manage the API keys of a stage: create (the key is printed once), list (never a secret), revoke.

Works against AWS (credentials and region from the usual AWS settings or --region) or any DynamoDB endpoint
(--endpoint-url, e.g. the local stage's moto server). Exit status 0 on success, 1 on failure, 2 on bad usage.
"""

import argparse
import re
import sys
from datetime import UTC, datetime

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from triggers.auth.api_keys import generate_key, hash_key
from triggers.domain.model import format_time
from triggers.settings import table_name
from triggers.storage.api_keys import ApiKeyRecord, ApiKeyStore

PROTECTED_STAGES = {"prod", "production"}
_KEY_FORMAT = re.compile(r"[A-Za-z0-9_\-]{16,256}")
_TENANT_FORMAT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class CommandError(Exception):
    """A failure to report in one line, without a stack trace."""


def _connect(args) -> ApiKeyStore:
    """The keys table of the stage the arguments name: credentials and region from the usual AWS settings."""
    client = boto3.Session(region_name=args.region).client("dynamodb", endpoint_url=args.endpoint_url or None)
    return ApiKeyStore(client, args.table or table_name("keys", args.stage))


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
    store = _connect(args)
    _confirm(args.stage, f"create a key for tenant '{args.tenant}'", args.yes)
    key = api_key or generate_key()
    record = ApiKeyRecord(
        key_hash=hash_key(key),
        tenant_id=args.tenant,
        name=args.name or "",
        is_active=True,
        created_at=format_time(datetime.now(UTC)),
    )
    if not store.insert(record):
        raise CommandError(f"this key exists already (key id {record.key_id}); nothing was written")
    print(f"Created key {record.key_id} for tenant '{record.tenant_id}' in {store.table}.")
    if api_key is None:
        print("The key is shown only now; store it safely:")
        print(key)


def list_keys(args) -> None:
    store = _connect(args)
    records = store.list_all()
    print(f"{'KEY ID':<14}{'TENANT':<24}{'ACTIVE':<8}{'CREATED':<30}NAME")
    for record in records:
        active = "yes" if record.is_active else "no"
        print(f"{record.key_id:<14}{record.tenant_id:<24}{active:<8}{record.created_at:<30}{record.name}")
    print(f"{len(records)} key(s) in {store.table}")


def revoke_key(args) -> None:
    store = _connect(args)
    if args.api_key:
        key_hash = hash_key(args.api_key)
    else:
        matches = [record for record in store.list_all() if record.key_id == args.key_id]
        if not matches:
            raise CommandError(f"no key with id {args.key_id} in {store.table}")
        key_hash = matches[0].key_hash
    _confirm(args.stage, f"revoke key {key_hash[:12]}", args.yes)
    if not store.deactivate(key_hash):
        raise CommandError(f"no such key in {store.table}")
    print(f"Revoked key {key_hash[:12]}. Warm containers may accept it for up to API_KEY_CACHE_SECONDS more.")


def add_connection_arguments(parser: argparse.ArgumentParser, default_stage: str | None = None) -> None:
    parser.add_argument("--stage", required=default_stage is None, default=default_stage, help="the stage, e.g. dev")
    parser.add_argument("--region", help="AWS region (default: from your AWS configuration)")
    parser.add_argument("--endpoint-url", help="a DynamoDB endpoint instead of AWS, e.g. http://127.0.0.1:8000")
    parser.add_argument("--table", help="the keys table (default: triggers-api-keys-<stage>)")
    parser.add_argument("--yes", action="store_true", help="do not ask before writing to a production stage")


def run(action, args) -> int:
    """Run one action, turning every expected failure into a one-line message and exit status 1."""
    try:
        action(args)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except NoCredentialsError:
        print("error: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/...)", file=sys.stderr)
        return 1
    except NoRegionError:
        print("error: no AWS region: pass --region or set AWS_DEFAULT_REGION", file=sys.stderr)
        return 1
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        hint = " (is the stage deployed, and the table name right?)" if code == "ResourceNotFoundException" else ""
        print(f"error: DynamoDB refused: {code}{hint}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"error: cannot reach DynamoDB: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triggers.cli.api_keys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create", help="create a key for a tenant and print it once")
    add_connection_arguments(create)
    create.add_argument("--tenant", required=True, help="the tenant the key acts for")
    create.add_argument("--name", help="a note saying who or what uses the key")

    listing = commands.add_parser("list", help="list the keys of a stage (ids, tenants, states; never secrets)")
    add_connection_arguments(listing)

    revoke = commands.add_parser("revoke", help="revoke a key")
    add_connection_arguments(revoke)
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--key-id", help="the key id shown by list")
    which.add_argument("--api-key", help="the key itself")

    args = parser.parse_args(argv)
    action = {"create": create_key, "list": list_keys, "revoke": revoke_key}[args.command]
    return run(action, args)


if __name__ == "__main__":
    raise SystemExit(main())
