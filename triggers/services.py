"""The composition root of every container: builds each store and service from the settings and hands them on.

Nothing else reads the environment or makes a client: the Lambda entry points call `create_workers` (the stream
and queue functions) or triggers/app.py's `create_app` (the API, built on `build_services`) with the settings of
`os.environ`; tests, tools and the benchmark call them with theirs (and may hand over their own clients). Nothing
here imports the HTTP layer, so a worker's cold start does not pay for Connexion.

A deployed stage's cursor secret is read here, from SSM Parameter Store, once per container (the entry points build
their services once, at import): `cursor_signer`.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from triggers import logs
from triggers.auth.api_keys import Authenticator
from triggers.auth.rate_limits import RateLimits
from triggers.domain.audit import AuditTrail
from triggers.domain.cursors import CursorSigner, parse_secrets
from triggers.domain.deliveries import DeliveryService
from triggers.domain.events import EventService, utc_now
from triggers.domain.fanout import FanOut
from triggers.domain.jobs import JobService
from triggers.domain.push import PushScheduler, PushWorker
from triggers.domain.subscriptions import SubscriptionService
from triggers.settings import Settings
from triggers.storage.api_keys import ApiKeyStore
from triggers.storage.attempts import AttemptStore
from triggers.storage.audit import AuditStore
from triggers.storage.deliveries import DeliveryStore
from triggers.storage.dynamodb import PARALLEL_CALLS, make_clients
from triggers.storage.events import EventStore
from triggers.storage.jobs import JobStore
from triggers.storage.queues import MessageQueue, make_queue_client
from triggers.storage.rate_limits import RateLimitCounter
from triggers.storage.secrets import SecretParameters, make_ssm_client
from triggers.storage.subscriptions import SubscriptionStore
from triggers.webhooks.sender import WebhookSender

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from triggers.canary import BeforeTrafficCheck

# A finished job stays readable this long.
JOB_RETENTION_SECONDS = 7 * 86400


@dataclass(frozen=True)
class Services:
    events: EventService
    authenticator: Authenticator
    check_storage: Callable[[], None]
    subscriptions: SubscriptionService
    deliveries: DeliveryService
    jobs: JobService
    fanout: FanOut
    push: PushWorker
    audit: AuditTrail


def cursor_signer(settings: Settings, ssm: Any = None) -> CursorSigner:
    """The cursors' signer: from the secrets the settings hold, or read from the SSM parameter they name (a
    SecureString: `secret`, or `new,old` during a rotation). A parameter that cannot be read, or holds a secret under
    32 bytes, stops the container at start-up with an error that names the parameter, never its value."""
    if not settings.cursor_secret_parameter:
        return CursorSigner(*settings.cursor_secrets)
    name = settings.cursor_secret_parameter
    value = SecretParameters(ssm or make_ssm_client(settings)).read(name)
    return CursorSigner(*parse_secrets(value, f"SSM parameter {name}"))


def build_services(
    settings: Settings,
    dynamodb: "DynamoDBClient | None" = None,
    sqs: Any = None,
    ssm: Any = None,
    counters: "DynamoDBClient | None" = None,
) -> Services:
    """`counters`: the rate-limit counter's client. Made here, it is its own (one short try: the limiter fails open
    fast); a caller that hands its own `dynamodb` and no `counters` gets that one client for both (tests and the
    benchmark count every call on one client)."""
    client, counter_client = make_clients(settings) if dynamodb is None else (dynamodb, dynamodb)
    counter_client = counters or counter_client
    cursors = cursor_signer(settings, ssm)
    keys = ApiKeyStore(client, settings.keys_table)
    limits = RateLimits(
        RateLimitCounter(counter_client, settings.rate_limits_table),
        per_key=settings.rate_limit_per_minute,
        per_tenant=settings.rate_limit_per_tenant_per_minute,
        per_address=settings.rate_limit_per_address_per_minute,
    )
    subscription_store = SubscriptionStore(client, settings.subscriptions_table)
    pool = ThreadPoolExecutor(PARALLEL_CALLS)  # calls of one request that go out together (no task waits on another)
    delivery_store = DeliveryStore(client, settings.deliveries_table, settings.delivery_shards, pool)
    attempts = AttemptStore(client, settings.deliveries_table)

    def queue_client() -> Any:
        return sqs or make_queue_client(settings)

    jobs_queue = MessageQueue(queue_client, settings.jobs_queue)
    push = PushScheduler(MessageQueue(queue_client, settings.push_queue))
    audit = AuditTrail(AuditStore(client, settings.audit_table), cursors, utc_now)
    subscriptions = SubscriptionService(
        subscription_store, cursors, utc_now, push, settings.push_allow_private_targets, audit
    )
    events = EventService(EventStore(client, settings.events_table), cursors, settings.retention_days, pool=pool)
    deliveries = DeliveryService(delivery_store, attempts, subscriptions, events, cursors, utc_now)
    return Services(
        events=events,
        authenticator=Authenticator(
            keys,
            limits,
            settings.key_cache_seconds,
            utc_now,
            dev_api_key=settings.dev_api_key if settings.auth_mode == "local" else None,
            unknown_cache_seconds=settings.unknown_key_cache_seconds,
        ),
        check_storage=keys.check_reachable,
        subscriptions=subscriptions,
        deliveries=deliveries,
        jobs=JobService(
            JobStore(client, settings.jobs_table, JOB_RETENTION_SECONDS), jobs_queue, deliveries, events, utc_now
        ),
        fanout=FanOut(subscription_store, delivery_store, push, utc_now),
        push=PushWorker(
            subscription_store,
            delivery_store,
            attempts,
            WebhookSender(settings.push_allow_private_targets, settings.push_timeout_seconds),
            push,
            utc_now,
        ),
        audit=audit,
    )


def create_workers(
    settings: Settings, dynamodb: "DynamoDBClient | None" = None, sqs: Any = None, ssm: Any = None
) -> Services:
    """The services of a stream or queue function's container."""
    logs.configure(settings.log_level)
    return build_services(settings, dynamodb, sqs, ssm)


# The before-traffic hook invokes the new version and waits for its answer: longer than the api function's timeout
# (25 s; a first invocation of a SnapStart version also restores it), one send (a health check is not retried).
HOOK_INVOKE_TIMEOUT_SECONDS = 60


def create_before_traffic_check(settings: Settings, session: boto3.Session | None = None) -> "BeforeTrafficCheck":
    """The `beforeTraffic` function's container: a CodeDeploy client and a Lambda client, no table, no secret
    (triggers/canary.py)."""
    # Imported here: the API's and the workers' cold starts would otherwise import the hook and its YAML parser.
    from triggers.canary import BeforeTrafficCheck

    logs.configure(settings.log_level)
    session = session or boto3.Session()
    codedeploy = session.client("codedeploy", config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
    invoker = session.client(
        "lambda",
        config=Config(read_timeout=HOOK_INVOKE_TIMEOUT_SECONDS, retries={"mode": "standard", "total_max_attempts": 1}),
    )
    return BeforeTrafficCheck(codedeploy, invoker, settings.stage)
