"""GET /v1/health and GET /v1/health/ready."""

from datetime import UTC, datetime

from triggers import __version__
from triggers.domain.model import format_time
from triggers.http.responses import json_response
from triggers.storage import dynamodb


async def get_health():
    return json_response({"status": "ok", "version": __version__, "time": format_time(datetime.now(UTC))})


async def get_readiness():
    dynamodb.check_reachable()
    return json_response({"status": "ready", "version": __version__, "time": format_time(datetime.now(UTC))})
