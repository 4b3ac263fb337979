"""The API's composition: the services of triggers/services.py, the operation objects that serve the spec's
operationIds, and the Connexion app around them."""

from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp

from triggers import logs
from triggers.http.app import Handlers, create_api
from triggers.operations.audit import Audit
from triggers.operations.events import Events
from triggers.operations.health import Health
from triggers.operations.inbox import Inbox
from triggers.operations.jobs import Jobs
from triggers.operations.keys import Keys
from triggers.operations.subscriptions import Subscriptions
from triggers.services import build_services
from triggers.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def create_app(
    settings: Settings,
    dynamodb: "DynamoDBClient | None" = None,
    sqs: Any = None,
    ssm: Any = None,
    counters: "DynamoDBClient | None" = None,
) -> ASGIApp:
    """The ASGI app of one container: its own clients, stores, key caches and rate-limit leases (`counters`: see
    triggers/services.py's `build_services`)."""
    logs.configure(settings.log_level)
    services = build_services(settings, dynamodb, sqs, ssm, counters)
    handlers = Handlers(
        [
            services.authenticator,
            Events(services.events),
            Inbox(services.events),
            Health(services.check_storage),
            Subscriptions(services.subscriptions, services.deliveries, services.jobs),
            Jobs(services.jobs),
            Audit(services.audit),
            Keys(),
        ]
    )
    return create_api(settings, handlers)
