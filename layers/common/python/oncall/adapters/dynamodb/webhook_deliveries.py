"""Deliveries in the ``webhooks`` table: one event to one subscription, its attempts and the sweep's index.

An attempt is *claimed* before the request goes out: ``attempts`` moves from k to k+1 on condition it is still k
(or k+1 with an expired lease: the previous claimant crashed), so a duplicated queue message cannot make a second
request for the same attempt, and a crash mid-attempt is retried once the lease runs out. Only the claimant of an
attempt writes its outcome (condition: ``attempts`` still k+1, still pending).

Only *pending* deliveries carry ``due_bucket``/``due_sort`` (sparse index ``by-due``): set on creation, on a
scheduled retry and on a redelivery, removed when a delivery succeeds, dies or is cancelled; a requeue moves
``due_sort`` conditionally on the value read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import Item, n, s, text
from oncall.adapters.dynamodb.webhook_items import (
    BY_DUE,
    DETAIL_MAX,
    DUE_BUCKET,
    attempt_attr,
    delivery_item,
    delivery_key,
    delivery_of,
    due_sort,
    from_stamp,
    iso,
    stamp,
    sub_pk,
    when,
)
from oncall.domain.webhooks import Attempt, DeliveryStatus, WebhookDelivery
from oncall.services.webhook_ports import AttemptInFlight, OverdueDelivery

PENDING = DeliveryStatus.PENDING.value


class Deliveries:
    """The delivery half of ``DynamoWebhookStore``."""

    table: str
    client: Any

    def add_delivery(self, delivery: WebhookDelivery) -> bool:
        """Create it; False when it already exists (a duplicated event or fan-out retry)."""
        added = kit.try_write(
            self.client.put_item, TableName=self.table, Item=delivery_item(delivery), **kit.if_absent()
        )
        return added is not None

    def delivery(self, subscription_id: str, delivery_id: str) -> WebhookDelivery | None:
        item = self._read(subscription_id, delivery_id)
        return delivery_of(item) if item else None

    def deliveries(
        self, subscription_id: str, limit: int, cursor: Mapping[str, Any] | None, status: str | None = None
    ) -> tuple[list[WebhookDelivery], dict[str, Any] | None]:
        """Newest first (delivery ids begin with the event time). With a ``status`` filter a page may need several
        reads to fill; the cursor is then the key of the last delivery returned, so nothing is skipped."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :dlv)",
            "ExpressionAttributeValues": {":pk": s(sub_pk(subscription_id)), ":dlv": s("DLV#")},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if status:
            request["FilterExpression"] = "#s = :s"
            request["ExpressionAttributeNames"] = {"#s": "status"}
            request["ExpressionAttributeValues"][":s"] = s(status)
        items, last = _fill(self.client, request, limit, cursor, ("pk", "sk"))
        return [delivery_of(i) for i in items], last

    def claim(
        self, subscription_id: str, delivery_id: str, attempts_made: int, now: datetime, lease: timedelta
    ) -> WebhookDelivery | None:
        update = kit.Update().set("attempts", n(attempts_made + 1)).set("lease_until", s(iso(now + lease)))
        attempts, lease_until = update.name("attempts"), update.name("lease_until")
        condition = (
            f"{update.equals('status', s(PENDING))} AND ({update.equals('attempts', n(attempts_made))} OR "
            f"({attempts} = {update.value(n(attempts_made + 1))} AND {lease_until} < {update.value(s(iso(now)))}))"
        )
        claimed = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=delivery_key(subscription_id, delivery_id),
            ReturnValues="ALL_NEW",
            **update.request(condition),
        )
        if claimed is not None:
            return delivery_of(claimed["Attributes"])
        current = self._read(subscription_id, delivery_id)
        if current is None:
            return None
        held_until = when(current, "lease_until")
        if (
            text(current, "status") == PENDING
            and kit.number(current, "attempts", 0) == attempts_made + 1
            and held_until is not None
            and held_until >= now
        ):
            raise AttemptInFlight(f"attempt {attempts_made + 1} of {delivery_id} is leased until {held_until}")
        return None

    def finish(
        self,
        delivery: WebhookDelivery,
        attempt: Attempt,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
    ) -> None:
        update = (
            kit.Update()
            .set("status", s(status.value))
            .append("history", {"L": [attempt_attr(attempt)]})
            .remove("lease_until")
        )
        if next_attempt_at is not None:
            update.set("next_attempt_at", s(iso(next_attempt_at)))
        else:
            update.remove("next_attempt_at")
        if status is DeliveryStatus.PENDING:
            at = next_attempt_at or attempt.at
            update.set("due_bucket", s(DUE_BUCKET)).set(
                "due_sort", s(due_sort(at, delivery.subscription_id, delivery.id))
            )
        else:
            update.remove("due_bucket").remove("due_sort")
        # only the claimant of this attempt writes its outcome
        condition = f"{update.equals('attempts', n(delivery.attempts))} AND {update.equals('status', s(PENDING))}"
        self.client.update_item(
            TableName=self.table, Key=delivery_key(delivery.subscription_id, delivery.id), **update.request(condition)
        )

    def cancel(self, delivery: WebhookDelivery, reason: str, now: datetime) -> None:
        record = Attempt(at=now, status=None, ok=False, detail=reason[:DETAIL_MAX], duration_ms=0)
        update = (
            kit.Update()
            .set("status", s(DeliveryStatus.CANCELLED.value))
            .append("history", {"L": [attempt_attr(record)]})
            .remove("lease_until")
            .remove("due_bucket")
            .remove("due_sort")
        )
        # one that ended meanwhile stays as it ended
        kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=delivery_key(delivery.subscription_id, delivery.id),
            **update.request(update.equals("status", s(PENDING))),
        )

    def reopen(self, delivery: WebhookDelivery, now: datetime) -> WebhookDelivery | None:
        """Back to pending with a fresh attempt count (redelivery); None unless it had ended."""
        update = (
            kit.Update()
            .set("status", s(PENDING))
            .set("attempts", n(0))
            .set("next_attempt_at", s(iso(now)))
            .remove("lease_until")
            .set("due_bucket", s(DUE_BUCKET))
            .set("due_sort", s(due_sort(now, delivery.subscription_id, delivery.id)))
        )
        reopened = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=delivery_key(delivery.subscription_id, delivery.id),
            ReturnValues="ALL_NEW",
            **update.request(f"{update.name('status')} <> {update.value(s(PENDING))}"),
        )
        return delivery_of(reopened["Attributes"]) if reopened is not None else None

    # -- the sweep -------------------------------------------------------------------------------------------------
    def overdue(self, cutoff: datetime, limit: int) -> list[OverdueDelivery]:
        """Pending deliveries whose next attempt was due at or before ``cutoff``, oldest first (index reads only)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_DUE,
            "KeyConditionExpression": "due_bucket = :b AND due_sort <= :cut",
            "ExpressionAttributeValues": {":b": s(DUE_BUCKET), ":cut": s(stamp(cutoff) + "~")},
            "Limit": min(limit, 100),
        }
        items, _ = _fill(self.client, request, limit, None, ("pk", "sk", "due_bucket", "due_sort"))
        return [
            OverdueDelivery(
                subscription_id=item["subscription_id"]["S"],
                delivery_id=item["id"]["S"],
                attempts=kit.number(item, "attempts", 0) or 0,
                due=from_stamp(item["due_sort"]["S"].split("#", 1)[0]),
                lease_until=when(item, "lease_until"),
                token=item["due_sort"]["S"],
            )
            for item in items
        ]

    def mark_requeued(self, overdue: OverdueDelivery, now: datetime) -> bool:
        """Move the delivery's due time to ``now`` if nobody touched it since it was read; False otherwise (another
        sweep requeued it, an attempt ran, or it ended)."""
        update = (
            kit.Update()
            .set("due_sort", s(due_sort(now, overdue.subscription_id, overdue.delivery_id)))
            .add("requeues", n(1))
        )
        condition = (
            f"{update.equals('status', s(PENDING))} AND {update.name('due_sort')} = {update.value(s(overdue.token))} "
            f"AND {update.equals('attempts', n(overdue.attempts))}"
        )
        moved = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=delivery_key(overdue.subscription_id, overdue.delivery_id),
            **update.request(condition),
        )
        return moved is not None

    def _read(self, subscription_id: str, delivery_id: str) -> Item | None:
        item: Item | None = self.client.get_item(
            TableName=self.table, Key=delivery_key(subscription_id, delivery_id), ConsistentRead=True
        ).get("Item")
        return item


def _fill(
    ddb: Any, request: dict[str, Any], limit: int, cursor: Mapping[str, Any] | None, key_names: tuple[str, ...]
) -> tuple[list[Item], dict[str, Any] | None]:
    """Up to ``limit`` items, reading page after page while a filter leaves pages short. The cursor is the page's
    own ``LastEvaluatedKey`` when the last item returned ends a page, else that item's key (``key_names``)."""
    found: list[Item] = []
    start = dict(cursor) if cursor else None
    while True:
        page = ddb.query(**request, **({"ExclusiveStartKey": start} if start else {}))
        items = page.get("Items", [])
        for index, item in enumerate(items):
            found.append(item)
            if len(found) == limit:
                if index == len(items) - 1:
                    return found, page.get("LastEvaluatedKey")
                return found, {name: item[name] for name in key_names}
        start = page.get("LastEvaluatedKey")
        if not start:
            return found, None
