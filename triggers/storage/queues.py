"""The SQS queues the background functions read (serverless.yml: JobsQueue and PushQueue, each with a dead-letter
queue). A message is a JSON object; what it means is the domain's business."""

import json
import logging
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from triggers.domain.errors import StorageUnavailable
from triggers.settings import Settings
from triggers.storage.dynamodb import service_client

logger = logging.getLogger(__name__)

# SQS's limits: entries in one SendMessageBatch, and the longest DelaySeconds.
BATCH = 10
MAX_DELAY_SECONDS = 900


def make_queue_client(settings: Settings, session: boto3.Session | None = None) -> Any:
    return service_client("sqs", settings, settings.sqs_endpoint_url, session)


class MessageQueue:
    """One queue, by name. The client is made, and the queue's URL asked for, on first use: most API containers
    never send a message, and a name is all the configuration needs (no account id)."""

    def __init__(self, make_client: Callable[[], Any], queue_name: str):
        self.make_client = make_client
        self.client: Any = None
        self.queue_name = queue_name
        self.queue_url: str | None = None

    def _url(self) -> str:
        if self.queue_url is None:
            self.client = self.make_client()
            self.queue_url = self.client.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
        return self.queue_url

    def send(self, message: dict, delay_seconds: int = 0) -> None:
        self.send_many([message], delay_seconds)

    def send_many(self, messages: list[dict], delay_seconds: int = 0) -> None:
        """Send every message (ten a call), each delivered no sooner than `delay_seconds` (at most 900) from now."""
        if not messages:
            return
        try:
            url = self._url()
            for start in range(0, len(messages), BATCH):
                entries = [
                    {"Id": str(n), "MessageBody": json.dumps(m), "DelaySeconds": delay_seconds}
                    for n, m in enumerate(messages[start : start + BATCH])
                ]
                while entries:
                    failed = self.client.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])
                    if any(f.get("SenderFault") for f in failed):
                        raise StorageUnavailable("a message was refused: " + failed[0].get("Code", ""))
                    retry = {f["Id"] for f in failed}
                    entries = [e for e in entries if e["Id"] in retry]
        except (ClientError, BotoCoreError) as exc:
            logger.warning("queue %s unavailable: %s", self.queue_name, type(exc).__name__)
            raise StorageUnavailable(type(exc).__name__) from exc
