"""SSM Parameter Store: where a deployed stage keeps its secrets (the cursor secret), read by name at start-up.

The composition root (triggers/services.py) makes the client and reads each secret once per container; the value is
never logged, never part of an error message, and never in the template or the function's environment.
"""

from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from triggers.settings import Settings
from triggers.storage.dynamodb import service_client


class SecretUnavailable(RuntimeError):
    """A secret parameter could not be read, or is not a SecureString: the container cannot start."""


def make_ssm_client(settings: Settings, session: boto3.Session | None = None) -> Any:
    return service_client("ssm", settings, settings.ssm_endpoint_url, session)


class SecretParameters:
    """SecureString parameters, read decrypted (ssm:GetParameter on the parameter's ARN; its KMS key must let the
    caller decrypt through SSM, as the AWS managed key aws/ssm does for the account's principals)."""

    def __init__(self, client: Any):
        self.client = client

    def read(self, name: str) -> str:
        try:
            parameter = self.client.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise SecretUnavailable(f"SSM parameter {name} cannot be read ({code})") from exc
        except BotoCoreError as exc:
            raise SecretUnavailable(f"SSM parameter {name} cannot be read ({type(exc).__name__})") from exc
        if parameter.get("Type") != "SecureString":
            # A String is stored and shown in clear (console, CLI, CloudTrail's request data): refuse it.
            raise SecretUnavailable(f"SSM parameter {name} must be a SecureString, not {parameter.get('Type')}")
        return parameter["Value"]
