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


def make_client(settings: Settings, session: boto3.Session | None = None) -> "DynamoDBClient":
    """The client every store of an app shares. Credentials and region come from the session (on Lambda, the
    function's role); timeouts and retries from the settings."""
    return (session or boto3.Session()).client(
        "dynamodb",
        endpoint_url=settings.dynamodb_endpoint_url,
        config=Config(
            retries={"mode": "standard", "max_attempts": settings.dynamodb_max_attempts},
            max_pool_connections=PARALLEL_CALLS,
            connect_timeout=settings.dynamodb_timeout_seconds,
            read_timeout=settings.dynamodb_timeout_seconds,
        ),
    )


def service_client(service: str, settings: Settings, endpoint_url: str | None, session: boto3.Session | None = None):
    """A client of another AWS service the functions use (SQS, SSM), with the same timeouts and retries."""
    return (session or boto3.Session()).client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        config=Config(
            retries={"mode": "standard", "max_attempts": settings.dynamodb_max_attempts},
            connect_timeout=settings.dynamodb_timeout_seconds,
            read_timeout=settings.dynamodb_timeout_seconds,
        ),
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
