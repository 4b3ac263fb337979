"""The composition root: builds every store and service of a container from its settings and hands them on.

Nothing else reads the environment or makes a client: the Lambda entry point calls `create_app` with the settings
of `os.environ`; tests, tools and the benchmark call it with theirs (and may hand it a DynamoDB client).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.types import ASGIApp

from triggers import logs
from triggers.auth.api_keys import Authenticator
from triggers.auth.rate_limits import RateLimiter
from triggers.domain.cursors import CursorSigner
from triggers.domain.events import EventService
from triggers.http.app import Handlers, create_api
from triggers.operations.events import Events
from triggers.operations.health import Health
from triggers.operations.inbox import Inbox
from triggers.settings import Settings
from triggers.storage.api_keys import ApiKeyStore
from triggers.storage.dynamodb import make_client
from triggers.storage.events import EventStore
from triggers.storage.rate_limits import RateLimitCounter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class Services:
    events: EventService
    authenticator: Authenticator
    check_storage: Callable[[], None]


def build_services(settings: Settings, dynamodb: "DynamoDBClient | None" = None) -> Services:
    client = dynamodb or make_client(settings)
    keys = ApiKeyStore(client, settings.keys_table)
    limiter = RateLimiter(RateLimitCounter(client, settings.rate_limits_table), settings.rate_limit_per_minute)
    return Services(
        events=EventService(
            EventStore(client, settings.events_table), CursorSigner(settings.cursor_secret), settings.retention_days
        ),
        authenticator=Authenticator(
            keys,
            limiter,
            settings.key_cache_seconds,
            dev_api_key=settings.dev_api_key if settings.auth_mode == "local" else None,
        ),
        check_storage=keys.check_reachable,
    )


def create_app(settings: Settings, dynamodb: "DynamoDBClient | None" = None) -> ASGIApp:
    """The ASGI app of one container: its own client, stores, key cache and rate-limit leases."""
    logs.configure(settings.log_level)
    services = build_services(settings, dynamodb)
    handlers = Handlers(
        [
            services.authenticator,
            Events(services.events),
            Inbox(services.events),
            Health(services.check_storage),
        ]
    )
    return create_api(settings, handlers)
