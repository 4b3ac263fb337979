"""The jobs table: one item per job, `pk` = `<tenant>#<job_id>` (serverless.yml, JobsTable)."""

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from triggers.domain.model import Job
from triggers.storage.dynamodb import failed_condition, unavailable_as_domain_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


logger = logging.getLogger(__name__)


def _key(tenant_id: str, job_id: str) -> dict:
    return {"pk": {"S": f"{tenant_id}#{job_id}"}}


def _from_item(item: dict) -> Job:
    return Job(
        tenant_id=item["tenant_id"]["S"],
        job_id=item["job_id"]["S"],
        kind=item["kind"]["S"],
        state=item["state"]["S"],
        subscription_id=item["subscription_id"]["S"],
        processed=int(item["processed"]["N"]),
        errors=tuple(json.loads(item["errors"]["S"])),
        created_at=item["created_at"]["S"],
        updated_at=item["updated_at"]["S"],
        step=int(item["step"]["N"]),
    )


class JobStore:
    def __init__(self, client: "DynamoDBClient", table: str, retention_seconds: int):
        self.client = client
        self.table = table
        self.retention_seconds = retention_seconds

    def insert(self, job: Job) -> None:
        created = int(datetime.fromisoformat(job.created_at).timestamp())
        with unavailable_as_domain_error():
            self.client.put_item(
                TableName=self.table,
                Item={
                    **_key(job.tenant_id, job.job_id),
                    "tenant_id": {"S": job.tenant_id},
                    "job_id": {"S": job.job_id},
                    "kind": {"S": job.kind},
                    "state": {"S": job.state},
                    "subscription_id": {"S": job.subscription_id},
                    "processed": {"N": str(job.processed)},
                    "errors": {"S": json.dumps(list(job.errors))},
                    "created_at": {"S": job.created_at},
                    "updated_at": {"S": job.updated_at},
                    "step": {"N": str(job.step)},
                    "expires_at": {"N": str(created + self.retention_seconds)},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )

    def get(self, tenant_id: str, job_id: str) -> Job | None:
        with unavailable_as_domain_error():
            item = self.client.get_item(TableName=self.table, Key=_key(tenant_id, job_id), ConsistentRead=True).get(
                "Item"
            )
        return _from_item(item) if item else None

    def finish_step(self, job: Job, processed: int, state: str, updated_at: str, errors: list[str]) -> bool:
        """Record the job's step as done, if it was not already; False (nothing changed) if it was."""
        try:
            with unavailable_as_domain_error():
                self.client.update_item(
                    TableName=self.table,
                    Key=_key(job.tenant_id, job.job_id),
                    ConditionExpression="#step = :step",
                    UpdateExpression=(
                        "SET #step = :next, #state = :state, updated_at = :at, #errors = :errors ADD #processed :n"
                    ),
                    # Each of these is one of DynamoDB's reserved words.
                    ExpressionAttributeNames={
                        "#step": "step",
                        "#state": "state",
                        "#errors": "errors",
                        "#processed": "processed",
                    },
                    ExpressionAttributeValues={
                        ":step": {"N": str(job.step)},
                        ":next": {"N": str(job.step + 1)},
                        ":state": {"S": state},
                        ":at": {"S": updated_at},
                        ":errors": {"S": json.dumps(errors)},
                        ":n": {"N": str(processed)},
                    },
                )
        except ClientError as exc:
            if failed_condition(exc):
                return False
            raise
        return True
