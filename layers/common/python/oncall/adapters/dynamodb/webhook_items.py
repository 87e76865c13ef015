"""The ``webhooks`` table's keys and item shapes, both ways: a subscription (``WH#<id>`` / ``META``) and a delivery
(``WH#<id>`` / ``DLV#<delivery id>``). The layout and access patterns are in ``oncall.adapters.dynamodb.webhooks``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import Attr, Item, n, s, text
from oncall.domain.webhooks import Attempt, DeliveryStatus, Subscription, WebhookDelivery

KIND = "WEBHOOK"
META = "META"
BY_KIND = "by-kind"
BY_DUE = "by-due"
DELIVERY_TTL = timedelta(days=30)
DUE_BUCKET = "DUE"
#: what an attempt's record keeps of the receiver's answer
DETAIL_MAX = 300


def sub_pk(subscription_id: str) -> str:
    return f"WH#{subscription_id}"


def dlv_sk(delivery_id: str) -> str:
    return f"DLV#{delivery_id}"


def meta_key(subscription_id: str) -> Item:
    return kit.key(sub_pk(subscription_id), META)


def delivery_key(subscription_id: str, delivery_id: str) -> Item:
    return kit.key(sub_pk(subscription_id), dlv_sk(delivery_id))


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def stamp(value: datetime) -> str:
    """Fixed width, so string order is time order (``isoformat`` drops zero microseconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_stamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def due_sort(due: datetime, subscription_id: str, delivery_id: str) -> str:
    return f"{stamp(due)}#{subscription_id}#{delivery_id}"


def when(item: Mapping[str, Attr], name: str) -> datetime | None:
    value = text(item, name)
    return datetime.fromisoformat(value) if value else None


def subscription_item(sub: Subscription) -> Item:
    """A new subscription: no previous secret and no dead letters yet."""
    item: Item = {
        **meta_key(sub.id),
        "kind": s(KIND),
        "kind_sort": s(f"{iso(sub.created_at)}#{sub.id}"),
        "id": s(sub.id),
        "url": s(sub.url),
        "events": kit.strings(sub.events),
        "secret": s(sub.secret),
        "enabled": kit.boolean(sub.enabled),
        "consecutive_dead": n(0),
        "version": n(sub.version),
        "created_at": s(iso(sub.created_at)),
    }
    if sub.description is not None:
        item["description"] = s(sub.description)
    if sub.teams:
        item["teams"] = kit.strings(sub.teams)
    return item


def subscription_of(item: Mapping[str, Attr]) -> Subscription:
    return Subscription(
        id=item["id"]["S"],
        url=item["url"]["S"],
        events=tuple(v["S"] for v in item["events"]["L"]),
        secret=item["secret"]["S"],
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        previous_secret=text(item, "previous_secret"),
        previous_until=when(item, "previous_until"),
        enabled=bool(item["enabled"]["BOOL"]),
        disabled_reason=text(item, "disabled_reason"),
        consecutive_dead=kit.number(item, "consecutive_dead", 0) or 0,
        version=int(item["version"]["N"]),
        description=text(item, "description"),
        teams=tuple(v["S"] for v in item.get("teams", {}).get("L", [])),
    )


def delivery_item(delivery: WebhookDelivery) -> Item:
    """A new delivery: pending, no attempt yet, due at once (so the sweep finds it if its job is lost)."""
    return {
        **delivery_key(delivery.subscription_id, delivery.id),
        "id": s(delivery.id),
        "subscription_id": s(delivery.subscription_id),
        "event_type": s(delivery.event_type),
        "event_id": s(delivery.event_id),
        "body": s(delivery.body),
        "status": s(delivery.status.value),
        "attempts": n(0),
        "created_at": s(iso(delivery.created_at)),
        "history": {"L": []},
        "expires_at": n(int((delivery.created_at + DELIVERY_TTL).timestamp())),
        "due_bucket": s(DUE_BUCKET),
        "due_sort": s(due_sort(delivery.created_at, delivery.subscription_id, delivery.id)),
    }


def attempt_attr(attempt: Attempt) -> Attr:
    """One attempt as kept in a delivery's ``history`` (a map; ``status`` absent when nothing answered)."""
    record: Item = {
        "at": s(iso(attempt.at)),
        "ok": kit.boolean(attempt.ok),
        "detail": s(attempt.detail[:DETAIL_MAX]),
        "duration_ms": n(attempt.duration_ms),
    }
    if attempt.status is not None:
        record["status"] = n(attempt.status)
    return {"M": record}


def attempt_of(attr: Mapping[str, Attr]) -> Attempt:
    return Attempt(
        at=datetime.fromisoformat(attr["at"]["S"]),
        status=kit.number(attr, "status"),
        ok=bool(attr["ok"]["BOOL"]),
        detail=attr["detail"]["S"],
        duration_ms=int(attr["duration_ms"]["N"]),
    )


def delivery_of(item: Mapping[str, Attr]) -> WebhookDelivery:
    return WebhookDelivery(
        id=item["id"]["S"],
        subscription_id=item["subscription_id"]["S"],
        event_type=item["event_type"]["S"],
        event_id=item["event_id"]["S"],
        body=item["body"]["S"],
        status=DeliveryStatus(item["status"]["S"]),
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        attempts=kit.number(item, "attempts", 0) or 0,
        next_attempt_at=when(item, "next_attempt_at"),
        history=tuple(attempt_of(a["M"]) for a in item.get("history", {}).get("L", [])),
    )
