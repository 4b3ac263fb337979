"""Background jobs: work a request starts but does not wait for, done a page at a time by the `jobs` function,
each page handing the next one on through the jobs queue (serverless.yml). The only kind so far is `redrive`:
every dead letter of a subscription made receivable again.

A message names the job and the step it is for; the job item records the steps done, and finishing a step is a
conditional write on that count. A replayed message (SQS delivers at least once) finds its step done and changes
nothing; a step that failed half-way is done again whole, and redriving what is no longer dead is a no-op.
"""

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from triggers.domain.deliveries import DeliveryService
from triggers.domain.errors import JobNotFound, StorageUnavailable, SubscriptionNotFound
from triggers.domain.model import Job, format_time

if TYPE_CHECKING:
    from triggers.storage.jobs import JobStore
    from triggers.storage.queues import MessageQueue

PAGE = 100


class JobService:
    def __init__(
        self, store: "JobStore", queue: "MessageQueue", deliveries: DeliveryService, clock: Callable[[], datetime]
    ):
        self.store = store
        self.queue = queue
        self.deliveries = deliveries
        self.clock = clock

    def start_redrive(self, tenant_id: str, subscription_id: str) -> Job:
        subscription = self.deliveries.subscriptions.get(tenant_id, subscription_id)
        now = format_time(self.clock())
        job = Job(
            tenant_id=subscription.tenant_id,
            job_id=str(uuid.uuid4()),
            kind="redrive",
            state="running",
            subscription_id=subscription.subscription_id,
            processed=0,
            errors=(),
            created_at=now,
            updated_at=now,
        )
        self.store.insert(job)
        self.deliveries.subscriptions.audit.record(job.tenant_id, "dead_letters.redrive_all", job.subscription_id)
        try:
            self.queue.send({"tenant_id": job.tenant_id, "job_id": job.job_id, "step": 0, "cursor": None})
        except StorageUnavailable:
            self.store.finish_step(job, 0, "failed", now, ["The job could not be queued; start it again."])
            raise
        return job

    def get(self, tenant_id: str, job_id: str) -> Job:
        job = self.store.get(tenant_id, job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def run_step(self, message: dict) -> None:
        """Do one page of a job and hand the next on; a message for a step already done changes nothing."""
        job = self.store.get(message["tenant_id"], message["job_id"])
        if job is None or job.state != "running" or job.step != message["step"]:
            return
        now = format_time(self.clock())
        try:
            page, cursor = self.deliveries.dead_letters(job.tenant_id, job.subscription_id, PAGE, message["cursor"])
            outcomes = self.deliveries.revive(job.tenant_id, job.subscription_id, [d.event_id for d in page])
        except SubscriptionNotFound:
            self.store.finish_step(job, 0, "failed", now, ["The subscription was deleted."])
            return
        state = "running" if cursor else "succeeded"
        if self.store.finish_step(job, outcomes.count("redriven"), state, now, []) and cursor:
            self.queue.send({**message, "step": job.step + 1, "cursor": cursor})
