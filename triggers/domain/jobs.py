"""Background jobs: work a request starts but does not wait for, done a page at a time by the `jobs` function,
each page handing the next one on through the jobs queue (serverless.yml). Two kinds:
- `redrive`: every dead letter of a subscription made receivable again;
- `replay`: every event of the tenant created in a time window that the subscription's filter matches delivered to
  it once more, whatever its delivery's state there. A page is one Query of the tenant-by-time index and one
  BatchGetItem of the events it names (triggers/storage/events.py), then one conditional write per matching event:
  the cost follows the events in the window, not the tenant's history.

A message names the job and the step it is for; the job item records the steps done, and finishing a step is a
conditional write on that count. A replayed message (SQS delivers at least once) finds its step done and changes
nothing; a step that failed half-way is done again whole, and what it had done already is a no-op: redriving what
is no longer dead, or replaying what this job replayed (each delivery records the replay that made it; a later
replay delivers it once more).
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from triggers.domain.deliveries import DeliveryService
from triggers.domain.errors import InvalidWindow, JobNotFound, StorageUnavailable, SubscriptionNotFound
from triggers.domain.events import EventService
from triggers.domain.model import Job, Subscription, format_time

if TYPE_CHECKING:
    from triggers.storage.jobs import JobStore
    from triggers.storage.queues import MessageQueue

# Deliveries (redrive) or events (replay) a step handles.
PAGE = 100

# A step's work: the job and where the previous step ended (None: the start) → what to add to the job's counts, and
# where this step ended (None: the job is done). Where a step ends travels in the queue's message, as JSON.
type Step = Callable[[Job, Any], tuple[dict[str, int], Any]]


class JobService:
    def __init__(
        self,
        store: "JobStore",
        queue: "MessageQueue",
        deliveries: DeliveryService,
        events: EventService,
        clock: Callable[[], datetime],
        page: int = PAGE,
    ):
        self.store = store
        self.queue = queue
        self.deliveries = deliveries
        self.events = events
        self.clock = clock
        self.page = page
        self.steps: dict[str, Step] = {"redrive": self._redrive_step, "replay": self._replay_step}

    def start_redrive(self, tenant_id: str, subscription_id: str) -> Job:
        subscription = self.deliveries.subscriptions.get(tenant_id, subscription_id)
        return self._start(self._new(subscription, "redrive"), "dead_letters.redrive_all")

    def start_replay(self, tenant_id: str, subscription_id: str, first: str, last: str | None) -> Job:
        """Replay to the subscription the events created from `first` to `last` (RFC 3339 times; `last` defaults to
        now, and a later one means now), both included. `first` must not be later than `last`, nor older than the
        stage's retention (no event lives longer)."""
        now = self.clock()
        start = _moment(first, "from")
        end = _moment(last, "to") if last is not None else now
        if start > now:
            raise InvalidWindow(f"from ({first}) is in the future.")
        if start > end:
            raise InvalidWindow(f"from ({first}) is later than to ({last}).")
        oldest = now - self.events.retention
        if start < oldest:
            raise InvalidWindow(
                f"from is at most {self.events.retention.days} days ago (this stage's retention): "
                f"{format_time(oldest)} or later."
            )
        subscription = self.deliveries.subscriptions.get(tenant_id, subscription_id)
        job = self._new(subscription, "replay", window=(format_time(start), format_time(min(end, now))))
        return self._start(job, "subscription.replay")

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
            counts, cursor = self.steps[job.kind](job, message["cursor"])
        except SubscriptionNotFound:
            self.store.finish_step(job, "failed", now, ["The subscription was deleted."])
            return
        state = "running" if cursor is not None else "succeeded"
        if self.store.finish_step(job, state, now, [], counts) and cursor is not None:
            self.queue.send({**message, "step": job.step + 1, "cursor": cursor})

    def _new(self, subscription: Subscription, kind: str, window: tuple[str, str] | None = None) -> Job:
        now = format_time(self.clock())
        return Job(
            tenant_id=subscription.tenant_id,
            job_id=str(uuid.uuid4()),
            kind=kind,
            state="running",
            subscription_id=subscription.subscription_id,
            processed=0,
            errors=(),
            created_at=now,
            updated_at=now,
            window=window,
        )

    def _start(self, job: Job, action: str) -> Job:
        """Store the job, record the request in the audit trail as `action`, and queue the job's first step."""
        self.store.insert(job)
        self.deliveries.subscriptions.audit.record(job.tenant_id, action, job.subscription_id)
        try:
            self.queue.send({"tenant_id": job.tenant_id, "job_id": job.job_id, "step": 0, "cursor": None})
        except StorageUnavailable:
            self.store.finish_step(job, "failed", job.created_at, ["The job could not be queued; start it again."])
            raise
        return job

    def _redrive_step(self, job: Job, cursor: str | None) -> tuple[dict[str, int], str | None]:
        """A page of dead letters (the cursor: the dead-letter listing's own) made receivable again."""
        page, cursor = self.deliveries.dead_letters(job.tenant_id, job.subscription_id, self.page, cursor)
        outcomes = self.deliveries.revive(job.tenant_id, job.subscription_id, [d.event_id for d in page])
        return {"processed": outcomes.count("redriven")}, cursor

    def _replay_step(self, job: Job, cursor: list[str] | None) -> tuple[dict[str, int], list[str] | None]:
        """A page of the window's events (the cursor: where the index read ended) delivered again where they
        match."""
        assert job.window is not None  # every replay has one
        start = (cursor[0], cursor[1]) if cursor is not None else None
        events, end = self.events.in_window(job.tenant_id, job.window, self.page, start)
        replayed = self.deliveries.replay(job.tenant_id, job.subscription_id, events, job.job_id)
        return {"examined": len(events), "processed": replayed}, list(end) if end is not None else None


def _moment(text: str, name: str) -> datetime:
    """An RFC 3339 time (the spec checked its form) as a UTC datetime; one Python cannot hold (a leap second, a
    year 1 or 9999 that UTC moves out of range) is refused as the window's."""
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidWindow(f"{name} ({text[:40]}) is not a time this API can replay from.") from exc
