"""The jobs table: one item per job, `pk` = `<tenant>#<job_id>` (serverless.yml, JobsTable). A replay's item also
holds its window (`window_from`, `window_to`) and `examined`."""

import json
import logging
from collections.abc import Mapping
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
        window=(item["window_from"]["S"], item["window_to"]["S"]) if "window_from" in item else None,
        examined=int(item.get("examined", {}).get("N", 0)),
    )


# What a step adds to (Job's counts): each is the name of its attribute and of the job's field.
COUNTS = ("processed", "examined")


class JobStore:
    def __init__(self, client: "DynamoDBClient", table: str, retention_seconds: int):
        self.client = client
        self.table = table
        self.retention_seconds = retention_seconds

    def insert(self, job: Job) -> None:
        created = int(datetime.fromisoformat(job.created_at).timestamp())
        item = {
            **_key(job.tenant_id, job.job_id),
            "tenant_id": {"S": job.tenant_id},
            "job_id": {"S": job.job_id},
            "kind": {"S": job.kind},
            "state": {"S": job.state},
            "subscription_id": {"S": job.subscription_id},
            "processed": {"N": str(job.processed)},
            "examined": {"N": str(job.examined)},
            "errors": {"S": json.dumps(list(job.errors))},
            "created_at": {"S": job.created_at},
            "updated_at": {"S": job.updated_at},
            "step": {"N": str(job.step)},
            "expires_at": {"N": str(created + self.retention_seconds)},
        }
        if job.window is not None:
            item["window_from"], item["window_to"] = {"S": job.window[0]}, {"S": job.window[1]}
        with unavailable_as_domain_error():
            self.client.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")

    def get(self, tenant_id: str, job_id: str) -> Job | None:
        with unavailable_as_domain_error():
            item = self.client.get_item(TableName=self.table, Key=_key(tenant_id, job_id), ConsistentRead=True).get(
                "Item"
            )
        return _from_item(item) if item else None

    def finish_step(
        self, job: Job, state: str, updated_at: str, errors: list[str], counts: Mapping[str, int] | None = None
    ) -> bool:
        """Record the job's step as done, adding `counts` (of COUNTS) to the job's, if it was not already; False
        (nothing changed) if it was."""
        counts = counts or {}
        try:
            with unavailable_as_domain_error():
                self.client.update_item(
                    TableName=self.table,
                    Key=_key(job.tenant_id, job.job_id),
                    ConditionExpression="#step = :step",
                    UpdateExpression=(
                        "SET #step = :next, #state = :state, updated_at = :at, #errors = :errors ADD "
                        + ", ".join(f"#{name} :{name}" for name in COUNTS)
                    ),
                    # Most of these are DynamoDB's reserved words.
                    ExpressionAttributeNames={
                        "#step": "step",
                        "#state": "state",
                        "#errors": "errors",
                        **{f"#{name}": name for name in COUNTS},
                    },
                    ExpressionAttributeValues={
                        ":step": {"N": str(job.step)},
                        ":next": {"N": str(job.step + 1)},
                        ":state": {"S": state},
                        ":at": {"S": updated_at},
                        ":errors": {"S": json.dumps(errors)},
                        **{f":{name}": {"N": str(counts.get(name, 0))} for name in COUNTS},
                    },
                )
        except ClientError as exc:
            if failed_condition(exc):
                return False
            raise
        return True
