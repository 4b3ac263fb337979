"""JSON log lines, each carrying the request id, the Lambda request id and the tenant of the request served."""

import json
import logging
import sys
import time
from typing import Any

from triggers import context


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        state = context.current()
        if state is not None:
            line["request_id"] = state.request_id
            line["lambda_request_id"] = state.lambda_request_id
            line["tenant"] = state.tenant
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["stack"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: str) -> None:
    """Replace the root handlers (Lambda's runtime installs its own plain-text one) with one JSON handler."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # No line needs the caller's file and line, thread, process or task names: each costs time on every record
    # (the logging HOWTO's "Optimization" section names these switches).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # Python 3.12+; typeshed lacks it
    # botocore at DEBUG prints request bodies (event payloads): keep it at INFO whatever LOG_LEVEL says.
    logging.getLogger("botocore").setLevel(max(logging.INFO, root.level))
    # urllib3 names each URL it requests (DEBUG) or retries (WARNING): a push receiver's URL must not be logged.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    # Connexion warns at every request to an operation that takes several media types (the CloudEvents ones) that
    # it picked the body schema of the request's type: nothing is wrong, and a warning a request is noise.
    logging.getLogger("connexion.operations.openapi3").setLevel(logging.ERROR)
