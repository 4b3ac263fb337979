"""GET /v1/health and GET /v1/health/ready."""

from collections.abc import Callable
from datetime import UTC, datetime

from triggers import __version__
from triggers.domain.model import format_time
from triggers.http.responses import json_response


class Health:
    def __init__(self, check_storage: Callable[[], None]):
        self.check_storage = check_storage

    async def get_health(self):
        return json_response({"status": "ok", "version": __version__, "time": format_time(datetime.now(UTC))})

    async def get_readiness(self):
        self.check_storage()
        return json_response({"status": "ready", "version": __version__, "time": format_time(datetime.now(UTC))})
