"""An incident's posts to Slack channels (``oncall.services.incident_channel``), in the ``notifications`` table.

=========================  ===============================  =========================================================
pk                         sk                               item / access pattern
=========================  ===============================  =========================================================
``CHANPOST#<incident>``    ``RUN#<gen>:<cycle>#<channel>``  one incident run's message in one channel: claimed with a
                                                            conditional put (``sending`` + lease), then its outcome
                                                            (``sent`` with the ref and the level it shows,
                                                            ``failed``: tried again at the next level, ``refused``:
                                                            never again). 30 days.
=========================  ===============================  =========================================================

Keyed by incident, not by channel: a storm of one service's incidents spreads over as many partitions as incidents.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import n, s
from oncall.services.incident_channel import PostClaim, PostStatus

POST_TTL = timedelta(days=30)


class DynamoChannelPostLog:
    """Implements ``oncall.services.incident_channel.ChannelPostLog``."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()

    @staticmethod
    def _key(incident_id: str, run: str, channel: str) -> dict[str, Any]:
        return kit.key(f"CHANPOST#{incident_id}", f"RUN#{run}#{channel}")

    def claim(self, incident_id: str, run: str, channel: str, now: datetime, lease: timedelta) -> PostClaim:
        key = self._key(incident_id, run, channel)
        won = kit.try_write(
            self.client.put_item,
            TableName=self.table,
            Item={
                **key,
                "status": s("sending"),
                "lease_until": n(int((now + lease).timestamp())),
                "expires_at": n(int((now + POST_TTL).timestamp())),
            },
            ConditionExpression="attribute_not_exists(pk) OR #s = :failed OR (#s = :sending AND lease_until < :now)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":failed": s("failed"),
                ":sending": s("sending"),
                ":now": n(int(now.timestamp())),
            },
        )
        if won is not None:
            return PostClaim(won=True)
        stored = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item", {})
        return PostClaim(
            won=False,
            status=kit.text(stored, "status"),
            ref=kit.text(stored, "ref"),
            level=kit.number(stored, "level"),
        )

    def finish(
        self,
        incident_id: str,
        run: str,
        channel: str,
        status: PostStatus,
        ref: str | None,
        level: int,
        detail: str | None,
        now: datetime,
    ) -> None:
        item: dict[str, Any] = {
            **self._key(incident_id, run, channel),
            "status": s(status),
            "level": n(level),
            "finished_at": s(now.isoformat()),
            "expires_at": n(int((now + POST_TTL).timestamp())),
        }
        if ref:
            item["ref"] = s(ref)
        if detail:
            item["detail"] = s(detail[:200])
        self.client.put_item(TableName=self.table, Item=item)
