"""The repository root and a Lambda context for the benchmark (events: scripts/api_gateway_events.py)."""

import uuid
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]


def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(aws_request_id=str(uuid.uuid4()), function_name="triggers-api-bench-api")
