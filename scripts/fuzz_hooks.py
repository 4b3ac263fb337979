"""Schemathesis hooks for fuzzing this API (named as `hooks` in the config scripts/fuzz_stage.py writes, and
imported by the in-process contract tests).

A receive waits up to `wait_seconds` (0-20) when nothing is visible, and fuzzing mostly meets empty
subscriptions: a valid wait is cut to 0 so a run stays short. An invalid one (negative testing) is left as it is.
What the wait does is tested in tests/api/test_subscriptions.py.

    python -m scripts.fuzz_hooks --help
"""

import argparse

import schemathesis


@schemathesis.hook("map_body")
def short_waits(ctx, body):
    if isinstance(body, dict) and type(body.get("wait_seconds")) is int and 0 < body["wait_seconds"] <= 20:
        return {**body, "wait_seconds": 0}
    return body


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
