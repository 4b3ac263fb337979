"""The one DynamoDB client of the process, and the translation of its failures into domain errors."""

import contextlib
import logging

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from triggers import settings
from triggers.domain.errors import StorageUnavailable

logger = logging.getLogger(__name__)

_client = None

# Errors that mean "try again later", after botocore's own retries gave up.
_UNAVAILABLE_CODES = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "ResourceNotFoundException",  # a table being created or restored
}


def client():
    """The DynamoDB client, created on first use so that importing costs nothing and tests can inject one."""
    global _client
    if _client is None:
        config = settings.current()
        _client = boto3.client(
            "dynamodb",
            endpoint_url=config.dynamodb_endpoint_url,
            config=Config(
                retries={"mode": "standard", "max_attempts": config.dynamodb_max_attempts},
                connect_timeout=config.dynamodb_timeout_seconds,
                read_timeout=config.dynamodb_timeout_seconds,
            ),
        )
    return _client


def use_client(new_client) -> None:
    """Replace the client (tests, tools); None makes the next call build one from the settings again."""
    global _client
    _client = new_client


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


@contextlib.contextmanager
def unavailable_as_domain_error():
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


def check_reachable() -> None:
    """Readiness: one cheap read on the keys table (a key that cannot exist); StorageUnavailable if it fails."""
    with unavailable_as_domain_error():
        try:
            client().get_item(TableName=settings.current().keys_table, Key={"key_hash": {"S": "readiness-probe"}})
        except ClientError as exc:
            raise StorageUnavailable(error_code(exc)) from exc
