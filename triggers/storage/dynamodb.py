"""Building the DynamoDB client, and translating its failures into domain errors."""

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from triggers.domain.errors import StorageUnavailable
from triggers.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)

# How many calls a request may have in flight at once (leasing, settling, fanning out a batch): 100 items are then
# four sequential round trips.
PARALLEL_CALLS = 25

# Errors that mean "try again later", after botocore's own retries gave up.
_UNAVAILABLE_CODES = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "ResourceNotFoundException",  # a table being created or restored
}


# A connection (TCP and TLS) to a regional endpoint takes milliseconds; a send waits at most this long for one.
CONNECT_TIMEOUT_SECONDS = 1.0
# botocore's standard retry mode sleeps before the i-th retry at most min(base * 2 ** (i - 1), 20) s: base 1 s after
# a throttling answer, 25 ms after anything else (a timeout included) for DynamoDB (botocore/retries/standard.py).
_THROTTLED_BACKOFF_BASE = 1.0
_MAX_BACKOFF = 20.0


def _config(attempts: int, timeout: float, pool: int = 10) -> Config:
    """Timeouts per send, and `attempts` sends per call at most, the first included. botocore's `max_attempts` counts
    retries, not sends (max_attempts=3 is four sends); `total_max_attempts` counts sends."""
    return Config(
        retries={"mode": "standard", "total_max_attempts": attempts},
        max_pool_connections=pool,
        connect_timeout=min(timeout, CONNECT_TIMEOUT_SECONDS),
        read_timeout=timeout,
    )


def longest_call_seconds(attempts: int, timeout: float) -> float:
    """The longest one call of a client configured by `_config` can take: every send waits out its connect and read
    timeouts, with the longest sleeps botocore may put between sends. Against a DynamoDB that accepts connections
    and never answers it is about `attempts * timeout` (a connect succeeds at once, and timeouts are retried after
    25 ms sleeps)."""
    sends = attempts * (min(timeout, CONNECT_TIMEOUT_SECONDS) + timeout)
    sleeps = sum(min(_THROTTLED_BACKOFF_BASE * 2 ** (i - 1), _MAX_BACKOFF) for i in range(1, attempts))
    return sends + sleeps


def make_client(settings: Settings, session: boto3.Session | None = None) -> "DynamoDBClient":
    """The client every store of an app shares. Credentials and region come from the session (on Lambda, the
    function's role); timeouts and sends per call from the settings."""
    return (session or boto3.Session()).client(
        "dynamodb",
        endpoint_url=settings.dynamodb_endpoint_url,
        config=_config(settings.dynamodb_max_attempts, settings.dynamodb_timeout_seconds, PARALLEL_CALLS),
    )


def make_counter_client(settings: Settings, session: boto3.Session | None = None) -> "DynamoDBClient":
    """The rate-limit counter's own client: one send per call (no retry) within RATE_LIMIT_TIMEOUT_SECONDS. The
    limiter admits a request it cannot count (triggers/auth/rate_limits.py), so a throttled or slow counter table
    must cost a request one short wait, not the retries and timeouts of `make_client` (about 3.7 s throttled)."""
    return (session or boto3.Session()).client(
        "dynamodb",
        endpoint_url=settings.dynamodb_endpoint_url,
        config=_config(1, settings.rate_limit_timeout_seconds),
    )


def make_clients(settings: Settings) -> tuple["DynamoDBClient", "DynamoDBClient"]:
    """The stores' client and the counter's, from one session: the second client reuses the service model the first
    loaded (a few ms at a cold start, where a session of its own would cost a few hundred)."""
    session = boto3.Session()
    return make_client(settings, session), make_counter_client(settings, session)


def service_client(service: str, settings: Settings, endpoint_url: str | None, session: boto3.Session | None = None):
    """A client of another AWS service the functions use (SQS, SSM), with the same timeouts and sends per call."""
    return (session or boto3.Session()).client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        config=_config(settings.dynamodb_max_attempts, settings.dynamodb_timeout_seconds),
    )


@dataclass(frozen=True)
class ConditionFailed[Existing]:
    """A conditional write that did not happen, and the item DynamoDB returned with the refusal (None if absent)."""

    existing: Existing | None


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def failed_condition(exc: ClientError) -> bool:
    return error_code(exc) in ("ConditionalCheckFailedException", "TransactionCanceledException")


@contextlib.contextmanager
def unavailable_as_domain_error() -> Iterator[None]:
    """Turn throttling, faults and timeouts into StorageUnavailable; let anything else surface as a bug."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in _UNAVAILABLE_CODES:
            logger.warning("DynamoDB unavailable: %s", error_code(exc))
            raise StorageUnavailable(error_code(exc)) from exc
        raise
    except (BotoConnectionError, HTTPClientError) as exc:
        logger.warning("DynamoDB unreachable: %s", type(exc).__name__)
        raise StorageUnavailable(type(exc).__name__) from exc


def newest_first(
    client: "DynamoDBClient", table: str, partition: str, limit: int, start: str | None
) -> tuple[list[dict], str | None]:
    """Up to `limit` items of one partition (`pk`), newest first (descending `sk`), after the sort key `start`; and
    the last sort key read if there may be more. One Query."""
    query: dict = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": partition}},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if start is not None:
        query["ExclusiveStartKey"] = {"pk": {"S": partition}, "sk": {"S": start}}
    with unavailable_as_domain_error():
        response = client.query(**query)
    last = response.get("LastEvaluatedKey")
    return response.get("Items", []), last["sk"]["S"] if last else None
