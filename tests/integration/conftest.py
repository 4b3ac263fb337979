"""Fixtures of the integration tests: SSM Parameter Store on moto, for the cursor secret of a deployed stage."""

import boto3
import pytest

from tests.support import AWS, unique


@pytest.fixture(scope="module")
def ssm(moto_endpoint):
    session = boto3.Session(
        region_name=AWS["region_name"],
        aws_access_key_id=AWS["aws_access_key_id"],
        aws_secret_access_key=AWS["aws_secret_access_key"],
    )
    return session.client("ssm", endpoint_url=moto_endpoint)


@pytest.fixture
def parameter(ssm):
    """put(value, type_="SecureString"): writes this test's own parameter of a cursor secret; its name is
    `put.name`; `put.delete()` removes it."""
    name = f"/triggers-api/test/{unique('cursor-secret')}"

    def put(value: str, type_: str = "SecureString") -> None:
        ssm.put_parameter(Name=name, Value=value, Type=type_, Overwrite=True)

    put.name = name  # type: ignore[attr-defined]
    put.delete = lambda: ssm.delete_parameter(Name=name)  # type: ignore[attr-defined]
    return put
