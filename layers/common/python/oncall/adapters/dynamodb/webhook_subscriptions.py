"""Subscriptions in the ``webhooks`` table: create, read, list, rotate the secret, count dead letters, disable (with
its ``webhook.disabled`` event, in one transaction) and enable. Every change after creation is conditional on what
the caller read (``version``), so two admins or an admin and the notifier cannot overwrite each other."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from oncall.adapters import outbox
from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import n, s
from oncall.adapters.dynamodb.webhook_items import (
    BY_KIND,
    KIND,
    iso,
    meta_key,
    subscription_item,
    subscription_of,
)
from oncall.domain.errors import Conflict
from oncall.domain.events import DomainEvent
from oncall.domain.webhooks import Subscription


class Subscriptions:
    """The subscription half of ``DynamoWebhookStore``."""

    table: str
    client: Any
    outbox_table: str | None

    def create(self, sub: Subscription) -> None:
        if (
            kit.try_write(self.client.put_item, TableName=self.table, Item=subscription_item(sub), **kit.if_absent())
            is None
        ):
            raise Conflict(f"webhook {sub.id} exists")

    def get(self, subscription_id: str) -> Subscription | None:
        got = self.client.get_item(TableName=self.table, Key=meta_key(subscription_id), ConsistentRead=True)
        return subscription_of(got["Item"]) if "Item" in got else None

    def paginate(
        self, limit: int, cursor: Mapping[str, Any] | None
    ) -> tuple[list[Subscription], dict[str, Any] | None]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_KIND,
            "KeyConditionExpression": "kind = :k",
            "ExpressionAttributeValues": {":k": s(KIND)},
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = dict(cursor)
        page = self.client.query(**request)
        return [subscription_of(i) for i in page.get("Items", [])], page.get("LastEvaluatedKey")

    def all(self) -> Iterator[Subscription]:
        for item in kit.query_all(
            self.client,
            TableName=self.table,
            IndexName=BY_KIND,
            KeyConditionExpression="kind = :k",
            ExpressionAttributeValues={":k": s(KIND)},
        ):
            yield subscription_of(item)

    def delete(self, subscription_id: str) -> bool:
        there = kit.Update()
        deleted = kit.try_write(
            self.client.delete_item,
            TableName=self.table,
            Key=meta_key(subscription_id),
            ConditionExpression=there.exists("pk"),
            **there.placeholders(),
        )
        return deleted is not None

    def rotate(self, sub: Subscription, secret: str, previous_until: datetime) -> bool:
        update = (
            kit.Update()
            .set("secret", s(secret))
            .set("previous_secret", s(sub.secret))
            .set("previous_until", s(iso(previous_until)))
            .set("version", n(sub.version + 1))
        )
        return self._update(sub.id, update, update.equals("version", n(sub.version))) is not None

    def record_success(self, subscription_id: str) -> None:
        """A delivered attempt clears the dead-letter streak (only written when there is one, to keep writes few)."""
        update = kit.Update().set("consecutive_dead", n(0))
        condition = f"{update.exists('pk')} AND {update.name('consecutive_dead')} > {update.value(n(0))}"
        self._update(subscription_id, update, condition)

    def record_dead(self, subscription_id: str) -> Subscription | None:
        """One more dead letter in a row; the subscription as it is now (None if deleted meanwhile)."""
        update = kit.Update().add("consecutive_dead", n(1))
        done = self._update(subscription_id, update, update.exists("pk"), ReturnValues="ALL_NEW")
        return subscription_of(done["Attributes"]) if done is not None else None

    def disable(self, sub: Subscription, reason: str, event: DomainEvent) -> bool:
        """Disable and announce it (outbox) in one transaction; False when someone else changed it first."""
        update = (
            kit.Update()
            .set("enabled", kit.boolean(False))
            .set("disabled_reason", s(reason))
            .set("version", n(sub.version + 1))
        )
        condition = f"{update.equals('version', n(sub.version))} AND {update.equals('enabled', kit.boolean(True))}"
        try:
            kit.transact(
                self.client,
                [
                    {"Update": {"TableName": self.table, "Key": meta_key(sub.id), **update.request(condition)}},
                    outbox.transact_put(event, table=self.outbox_table),
                ],
            )
        except kit.Cancelled:
            return False
        return True

    def enable(self, sub: Subscription) -> None:
        update = (
            kit.Update()
            .set("enabled", kit.boolean(True))
            .remove("disabled_reason")
            .set("consecutive_dead", n(0))
            .set("version", n(sub.version + 1))
        )
        self.client.update_item(TableName=self.table, Key=meta_key(sub.id), **update.request(update.exists("pk")))

    def _update(self, subscription_id: str, update: kit.Update, condition: str, **extra: Any) -> dict[str, Any] | None:
        return kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=meta_key(subscription_id),
            **update.request(condition),
            **extra,
        )
