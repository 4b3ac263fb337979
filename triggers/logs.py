"""JSON log lines, each carrying the request id, the Lambda request id and the tenant of the request served."""

import json
import logging
import sys

from triggers.http import context


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
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
    # botocore at DEBUG prints request bodies (event payloads): keep it at INFO whatever LOG_LEVEL says.
    logging.getLogger("botocore").setLevel(max(logging.INFO, root.level))
