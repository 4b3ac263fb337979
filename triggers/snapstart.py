"""Lambda SnapStart (the stage parameter `snapStart`, docs/deploy.md): a container restored from a snapshot starts
as a new container would, not as a copy of the one that was snapshotted.

With SnapStart, Lambda runs the API function's init (handlers/lambda_handler.py) once, when a version is published,
snapshots the process, and starts every new container of that version from the snapshot: whatever init made is the
same in all of them, however long after. What init makes, and why each is safe to share:

- the boto3 clients: made, not used. Init calls no AWS API but the cursor secret's read (below), so no connection is
  open in the snapshot, and the stores' thread pool and the adapter's event loop start at the first request
  (tests/integration/test_snapstart.py holds this);
- ids, lease tokens and signing secrets: drawn per request from the kernel (uuid4, `secrets`, os.urandom), never at
  init;
- Python's `random` module: seeded from os.urandom when first imported, at init. Every restored container would
  draw the same numbers, and botocore's retry jitter is among its users: containers restored together would retry a
  throttled call in step. `after_restore` seeds it again;
- the cursor secret, read from SSM Parameter Store at init: a snapshot would keep it for the version's whole life,
  past any rotation of the parameter. `after_restore` reads the parameter again and, if it changed since the
  snapshot, builds the app again: a restored container signs cursors with the parameter's current value, as a new
  container does. If the parameter cannot be read then, the container keeps the snapshot's secret (it was valid
  when the version was published) and logs an error, rather than fail every request.

The hooks are registered with `snapshot_restore_py`, which Lambda's Python runtime provides and calls (before the
snapshot, after each restore). It is not a dependency: a copy in the zip could shadow the runtime's own, whose
registry the runtime reads. Without it (locally, in tests, in the deploy rehearsal) nothing is registered, and
without SnapStart the runtime calls nothing: the handler is then only the app built at init.
"""

import dataclasses
import hashlib
import logging
import random
from collections.abc import Callable
from typing import Any

from triggers.services import cursor_signer
from triggers.settings import Settings
from triggers.storage.secrets import SecretUnavailable, make_ssm_client

try:
    import snapshot_restore_py as runtime_hooks  # type: ignore[import-not-found]
except ImportError:  # not Lambda's Python runtime: no snapshot is ever taken
    runtime_hooks = None

logger = logging.getLogger(__name__)

Handler = Callable[[dict, Any], dict]
# Lambda allows a restore (the runtime's and every after-restore hook) 10 s. The secret's read gets two attempts of
# at most 1 s to connect and 1 s to answer, whatever the settings give the app's own calls.
RESTORE_TIMEOUT_SECONDS = 1.0
RESTORE_ATTEMPTS = 2


class RestorableHandler:
    """The Lambda handler `build` makes, made again after a restore when the cursor secret is no longer the one of
    the snapshot. `secret` returns a digest of the secret as it is now (never the secret itself)."""

    def __init__(self, build: Callable[[], Handler], secret: Callable[[], bytes]):
        self.build = build
        self.secret = secret
        self.handler = build()
        self.snapshot_secret: bytes | None = None

    def __call__(self, event: dict, context: Any) -> dict:
        return self.handler(event, context)

    def before_snapshot(self) -> None:
        """Note the secret the snapshot holds. Read right after init: a rotation between init's read and this one,
        a few seconds apart at a publish, would go unnoticed until the container is replaced. If it cannot be read,
        nothing is noted, and each restore builds the app again (slower, never stale) rather than fail the publish."""
        try:
            self.snapshot_secret = self.secret()
        except (SecretUnavailable, ValueError) as exc:
            logger.warning("before the snapshot: %s; each restore will build the app again", exc)

    def after_restore(self) -> None:
        random.seed()  # from os.urandom, now: this container's own sequence
        try:
            if self.secret() == self.snapshot_secret:
                return
            self.handler = self.build()
        except (SecretUnavailable, ValueError) as exc:  # unreadable, or no longer a valid secret
            logger.error("restored with the snapshot's cursor secret: %s", exc)
            return
        logger.info("restored: the cursor secret changed since the snapshot; the app was built again with it")


def secret_digest(settings: Settings, ssm: Any = None) -> bytes:
    """SHA-256 of the cursor secrets the settings give, or of those in the parameter they name, read as the app
    reads it (triggers/services.py). Raises what that read raises."""
    return hashlib.sha256(b"\n".join(cursor_signer(settings, ssm).secrets)).digest()


def restorable(
    build: Callable[[], Handler], settings: Settings, ssm: Any = None, hooks: Any = runtime_hooks
) -> RestorableHandler:
    """The handler `build` makes, with its SnapStart hooks registered when the runtime has them. `ssm`: the client
    for the secret's reads at snapshot and restore (by default one of its own, with the restore's time limits)."""

    def secret() -> bytes:
        client = ssm
        if client is None and settings.cursor_secret_parameter:
            limits = dataclasses.replace(
                settings, dynamodb_timeout_seconds=RESTORE_TIMEOUT_SECONDS, dynamodb_max_attempts=RESTORE_ATTEMPTS
            )
            client = make_ssm_client(limits)
        return secret_digest(settings, client)

    handler = RestorableHandler(build, secret)
    if hooks is not None:
        hooks.register_before_snapshot(handler.before_snapshot)
        hooks.register_after_restore(handler.after_restore)
    return handler
