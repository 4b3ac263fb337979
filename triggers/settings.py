"""All configuration, read once from environment variables.

Local and deployed stages differ only in these values (for example DYNAMODB_ENDPOINT_URL), never in code paths.
AWS_REGION and credentials are deliberately absent: boto3 resolves them (on Lambda, from the function's role).
"""

from collections.abc import Mapping
from dataclasses import dataclass

from triggers.domain.cursors import parse_secrets

SERVICE = "triggers-api"
MAX_BODY_BYTES = 256 * 1024


def table_name(kind: str, stage: str) -> str:
    """The naming rule serverless.yml uses: `${self:service}-<kind>-${sls:stage}`."""
    return f"{SERVICE}-{kind}-{stage}"


@dataclass(frozen=True)
class Settings:
    stage: str
    events_table: str
    keys_table: str
    rate_limits_table: str
    dynamodb_endpoint_url: str | None
    auth_mode: str
    dev_api_key: str
    cors_origins: tuple[str, ...]
    log_level: str
    retention_days: int
    key_cache_seconds: float
    # How long a container remembers that a key is unknown (or revoked): a key created after a request tried it works
    # there at the latest this long after (triggers/auth/api_keys.py).
    unknown_key_cache_seconds: float
    # The cursors' HMAC keys, signing one first: given directly (CURSOR_SECRET: the local stage, tests), or empty when
    # a deployed stage names its SSM parameter instead, which the composition root reads (triggers/services.py).
    cursor_secrets: tuple[bytes, ...]
    cursor_secret_parameter: str | None
    ssm_endpoint_url: str | None
    validate_responses: bool
    dynamodb_timeout_seconds: float  # each send's read timeout (its connect timeout: at most CONNECT_TIMEOUT_SECONDS)
    dynamodb_max_attempts: int  # sends per call, the first included (botocore's `total_max_attempts`)
    rate_limit_per_minute: int  # per API key; 0 turns limits off
    rate_limit_per_tenant_per_minute: int  # all the keys of a tenant together; 0 turns this limit off
    rate_limit_per_address_per_minute: int  # requests without a valid key, per client address; 0 turns it off
    rate_limit_timeout_seconds: float  # the counter's one try: past it a request is admitted uncounted
    subscriptions_table: str
    deliveries_table: str
    jobs_table: str
    audit_table: str
    jobs_queue: str  # the name of the jobs function's SQS queue
    sqs_endpoint_url: str | None
    delivery_shards: int  # lanes per subscription queue (docs/design.md: the throughput ceiling)
    push_queue: str  # the name of the deliver function's SQS queue
    push_allow_private_targets: bool  # http and non-public addresses as push URLs: the local stage only
    push_timeout_seconds: float  # a push not answered within this is a failed try


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _limit(name: str, given: str | None, default: int) -> int:
    """A requests-per-minute limit; empty or absent is the default (serverless.yml's way of leaving a param unset)."""
    value = int(given or default)
    if value < 0:
        raise ValueError(f"{name} must be 0 (off) or a number of requests per minute, not {value}")
    return value


def from_environment(env: Mapping[str, str]) -> Settings:
    """The settings an environment describes; the Lambda entry point hands it `os.environ`, tests build theirs."""
    stage = env.get("STAGE", "dev")
    auth_mode = env.get("AUTH_MODE", "aws")
    if auth_mode not in ("aws", "local"):
        raise ValueError(f"AUTH_MODE must be 'aws' or 'local', not {auth_mode!r}")
    cursor_secret = env.get("CURSOR_SECRET", "")
    cursor_secret_parameter = env.get("CURSOR_SECRET_PARAMETER") or None
    if cursor_secret and cursor_secret_parameter:
        raise ValueError("set CURSOR_SECRET or CURSOR_SECRET_PARAMETER, not both: which one signs cursors?")
    if not cursor_secret and not cursor_secret_parameter:
        raise ValueError(
            "CURSOR_SECRET_PARAMETER (an SSM SecureString's name) or CURSOR_SECRET must be set: it signs page cursors"
            " (generate one: openssl rand -hex 32)"
        )
    per_key = _limit("RATE_LIMIT_PER_MINUTE", env.get("RATE_LIMIT_PER_MINUTE"), 1000)
    return Settings(
        stage=stage,
        events_table=env.get("DYNAMODB_TABLE_EVENTS") or table_name("events", stage),
        keys_table=env.get("DYNAMODB_TABLE_KEYS") or table_name("keys", stage),
        rate_limits_table=env.get("DYNAMODB_TABLE_RATE_LIMITS") or table_name("ratelimits", stage),
        # An empty value must mean "not set": boto3 would otherwise try to reach "".
        dynamodb_endpoint_url=env.get("DYNAMODB_ENDPOINT_URL") or None,
        auth_mode=auth_mode,
        dev_api_key=env.get("DEV_API_KEY", "test-api-key-12345"),
        cors_origins=tuple(o.strip() for o in env.get("CORS_ORIGINS", "*").split(",") if o.strip()),
        log_level=env.get("LOG_LEVEL", "INFO").upper(),
        retention_days=int(env.get("EVENT_RETENTION_DAYS", "30")),
        key_cache_seconds=float(env.get("API_KEY_CACHE_SECONDS", "60")),
        unknown_key_cache_seconds=float(env.get("UNKNOWN_KEY_CACHE_SECONDS", "60")),
        cursor_secrets=parse_secrets(cursor_secret, "CURSOR_SECRET") if cursor_secret else (),
        cursor_secret_parameter=cursor_secret_parameter,
        ssm_endpoint_url=env.get("SSM_ENDPOINT_URL") or None,
        validate_responses=_flag(env.get("VALIDATE_RESPONSES", "false")),
        dynamodb_timeout_seconds=float(env.get("DYNAMODB_TIMEOUT_SECONDS", "3")),
        dynamodb_max_attempts=int(env.get("DYNAMODB_MAX_ATTEMPTS", "3")),
        rate_limit_per_minute=per_key,
        # Three times a key's by default: a tenant may spread its work over a few keys, not over any number of them.
        rate_limit_per_tenant_per_minute=_limit(
            "RATE_LIMIT_PER_TENANT_PER_MINUTE", env.get("RATE_LIMIT_PER_TENANT_PER_MINUTE"), 3 * per_key
        ),
        rate_limit_per_address_per_minute=_limit(
            "RATE_LIMIT_PER_ADDRESS_PER_MINUTE", env.get("RATE_LIMIT_PER_ADDRESS_PER_MINUTE"), 60
        ),
        rate_limit_timeout_seconds=float(env.get("RATE_LIMIT_TIMEOUT_SECONDS", "0.5")),
        subscriptions_table=env.get("DYNAMODB_TABLE_SUBSCRIPTIONS") or table_name("subscriptions", stage),
        deliveries_table=env.get("DYNAMODB_TABLE_DELIVERIES") or table_name("deliveries", stage),
        jobs_table=env.get("DYNAMODB_TABLE_JOBS") or table_name("jobs", stage),
        audit_table=env.get("DYNAMODB_TABLE_AUDIT") or table_name("audit", stage),
        jobs_queue=env.get("JOBS_QUEUE") or table_name("jobs", stage),
        sqs_endpoint_url=env.get("SQS_ENDPOINT_URL") or None,
        delivery_shards=int(env.get("DELIVERY_SHARDS", "4")),
        push_queue=env.get("PUSH_QUEUE") or table_name("push", stage),
        push_allow_private_targets=_flag(env.get("PUSH_ALLOW_PRIVATE_TARGETS", "false")),
        push_timeout_seconds=float(env.get("PUSH_TIMEOUT_SECONDS", "10")),
    )
