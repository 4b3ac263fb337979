"""How the command-line tools (the key tool, scripts/rollback.py) end when something fails as expected: one line
for the operator, exit status 1, no stack trace."""

import sys
from collections.abc import Callable, Mapping

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError


def explain(exc: BotoCoreError | ClientError, service: str, hints: Mapping[str, str] | None = None) -> str:
    """`exc` in one line; `hints` add a sentence after an error code the tool knows a likely cause of."""
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/...)"
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region or set AWS_DEFAULT_REGION"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "error")
        message = f": {error['Message']}" if error.get("Message") else ""
        return f"{service} refused: {code}{message}{(hints or {}).get(code, '')}"
    return f"cannot reach {service}: {exc}"


def exit_status(
    action: Callable[[], object],
    expected: type[Exception],
    service: str,
    hints: Mapping[str, str] | None = None,
) -> int:
    """Run `action`: 0, or 1 after one line on stderr for an `expected` failure or one of AWS."""
    try:
        action()
    except expected as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as exc:
        print(f"error: {explain(exc, service, hints)}", file=sys.stderr)
        return 1
    return 0
