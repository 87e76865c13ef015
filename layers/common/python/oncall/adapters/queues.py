"""SQS as the product's delayed job queue: webhook attempts (notifier queue) and queued pages (page queue).

``DelaySeconds`` is how a job waits (whole seconds, at most 15 minutes a hop); the consumer's event source mapping
reports partial batch failures, so a failed job comes back alone after the visibility timeout.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


class SqsQueue:
    def __init__(self, queue_url: str, client: Any = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs")
        return self._client

    def send(self, job: Mapping[str, Any], delay_seconds: int) -> None:
        self.client.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(dict(job), separators=(",", ":")),
            DelaySeconds=max(0, min(900, int(delay_seconds))),
        )

    def later(self, job: Mapping[str, Any], delay_s: float) -> None:
        # rounded down: a job comes up to a second early and its consumer waits out the rest in-process (a flush
        # waits up to ``NotifySettings.max_wait_s``), where rounding up would add up to a second to every queued page
        self.send(job, math.floor(max(0.0, delay_s)))
