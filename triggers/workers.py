"""The Lambda handlers of the functions that are not the API: they translate the event AWS sends (a DynamoDB
Streams batch, an SQS batch) into domain calls, and failures into the partial-batch answer
(`functionResponseType: ReportBatchItemFailures` in serverless.yml), so only what failed is retried."""

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from triggers.domain.fanout import FanOut
from triggers.domain.jobs import JobService
from triggers.domain.model import Event
from triggers.domain.push import PushWorker
from triggers.storage.events import stream_change

logger = logging.getLogger(__name__)

LambdaHandler = Callable[[dict, Any], dict]


def fanout_handler(fanout: FanOut) -> LambdaHandler:
    """Records of one shard come in order: at the first failure, that record and every later one are retried."""

    def handler(event: dict, context: Any) -> dict:
        for record in event.get("Records", []):
            try:
                change = stream_change(record)
                if isinstance(change, Event):
                    fanout.created(change)
                elif change is not None:
                    fanout.removed(*change)
            except Exception:
                logger.exception("fan-out failed; the record is retried")
                return {"batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}
        return {"batchItemFailures": []}

    return handler


def deliver_handler(push: PushWorker, parallel: int = 10) -> LambdaHandler:
    """Each message is one push (or one page of a sweep), all of a batch at once, so one slow receiver does not
    hold up the others; a failed one goes back to the queue (past maxReceiveCount, to its dead-letter queue)."""

    pool = ThreadPoolExecutor(parallel)  # the batch size of the `deliver` function's sqs event

    def handle(record: dict) -> dict | None:
        try:
            push.handle(json.loads(record["body"]))
        except Exception:
            logger.exception("push failed; the message is retried")
            return {"itemIdentifier": record["messageId"]}
        return None

    def handler(event: dict, context: Any) -> dict:
        outcomes = pool.map(handle, event.get("Records", []))
        return {"batchItemFailures": [failure for failure in outcomes if failure is not None]}

    return handler


def jobs_handler(jobs: JobService) -> LambdaHandler:
    """Each message is one step of a job; a failed one goes back to the queue (and, past maxReceiveCount, to its
    dead-letter queue) without holding up the others."""

    def handler(event: dict, context: Any) -> dict:
        failures = []
        for record in event.get("Records", []):
            try:
                jobs.run_step(json.loads(record["body"]))
            except Exception:
                logger.exception("job step failed; the message is retried")
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    return handler
