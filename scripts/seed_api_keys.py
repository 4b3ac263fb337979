"""Store a given API key for a stage (the seeds' flags). For new keys prefer `python -m triggers.cli.api_keys`."""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file from anywhere

from triggers.cli.api_keys import add_connection_arguments, create_key, run  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-key", required=True, help="the key value to store (16-256 of A-Z a-z 0-9 _ -)")
    parser.add_argument("--source", help="who or what uses the key (stored as its name)")
    parser.add_argument("--tenant", help="the tenant the key acts for (default: the source, else 'default')")
    add_connection_arguments(parser, default_stage="prod")
    args = parser.parse_args(argv)
    if args.region is None:
        args.region = "us-east-1"
    args.name = args.source
    args.tenant = args.tenant or args.source or "default"
    # The seeds' key holds every scope, writes any source, never expires (`--source` here is its name).
    args.scope = args.source = args.event_type = args.expires_in = None
    return run(lambda parsed: create_key(parsed, api_key=parsed.api_key), args)


if __name__ == "__main__":
    raise SystemExit(main())
