"""pynamodb models and the repository for outgoing webhooks: table ``webhooks`` (declared in ``infra/topology.py``).

=================  ====================  ========================================================================
pk                 sk                    item / access pattern
=================  ====================  ========================================================================
``WH#<id>``        ``META``              a subscription: url, events, current secret (and, during a rotation's
                                         overlap, the previous one), enabled, consecutive dead letters, version.
                                         GSI ``by-kind`` (kind = ``WEBHOOK``, kind_sort = created#id) lists them;
                                         the notifier reads it whole per event batch (subscriptions are few).
``WH#<id>``        ``DLV#<delivery id>``  one event to this subscription: body, status, attempts, lease, history.
                                         Delivery ids begin with the event time, so a Query on the partition
                                         lists deliveries newest first. Expire 30 days after creation (TTL).
=================  ====================  ========================================================================

GSI ``by-due`` is sparse: only *pending* deliveries carry ``due_bucket`` (always ``DUE``) and ``due_sort`` (when
the next attempt is due, fixed-width UTC, + ids), set on creation, on a scheduled retry and on a redelivery, removed
when a delivery succeeds, dies or is cancelled. The sweep's ``Query due_bucket = DUE AND due_sort <= :cutoff``
therefore reads only deliveries overdue by more than the grace, however many are stored; a requeue moves
``due_sort`` to the requeue time (conditional on the value read), so concurrent sweeps queue one job per delivery
and a lost requeue is found again one grace later. One index partition takes every pending delivery's writes
(~1,000/s): far above what an on-call tool emits.

Secrets are stored as they are (HMAC needs the key itself, unlike our API keys which are hashed); the table is
encrypted at rest and only the api and notifier functions are granted it.

An attempt is *claimed* before the request goes out: ``attempts`` moves from k to k+1 on condition it is still k
(or k+1 with an expired lease: the previous claimant crashed), so a duplicated queue message cannot make a second
request for the same attempt, and a crash mid-attempt is retried once the lease runs out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import BooleanAttribute, ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from oncall.adapters import outbox
from oncall.domain.events import DomainEvent
from oncall.domain.webhooks import Attempt, DeliveryStatus, Subscription, WebhookDelivery
from oncall.services.webhooks import AttemptInFlight, OverdueDelivery

KIND = "WEBHOOK"
META = "META"
DELIVERY_TTL = timedelta(days=30)
DUE_BUCKET = "DUE"


def sub_pk(subscription_id: str) -> str:
    return f"WH#{subscription_id}"


def dlv_sk(delivery_id: str) -> str:
    return f"DLV#{delivery_id}"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _stamp(value: datetime) -> str:
    """Fixed width, so string order is time order (``isoformat`` drops zero microseconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _from_stamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def due_sort(due: datetime, subscription_id: str, delivery_id: str) -> str:
    return f"{_stamp(due)}#{subscription_id}#{delivery_id}"


class ByKind(GlobalSecondaryIndex[Any]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by-kind"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    kind_sort = UnicodeAttribute(range_key=True)


class ByDue(GlobalSecondaryIndex[Any]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by-due"
        # what the sweep needs to queue a job; never the body
        projection = IncludeProjection(["id", "subscription_id", "attempts", "lease_until"])

    due_bucket = UnicodeAttribute(hash_key=True)
    due_sort = UnicodeAttribute(range_key=True)


class SubscriptionItem(Model):
    class Meta:
        table_name = "oncall-webhooks"
        region = "us-east-1"
        host: str | None = None

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    kind_sort = UnicodeAttribute()
    id = UnicodeAttribute()
    url = UnicodeAttribute()
    events: ListAttribute[Any] = ListAttribute(of=UnicodeAttribute)
    secret = UnicodeAttribute()
    previous_secret = UnicodeAttribute(null=True)
    previous_until = UnicodeAttribute(null=True)
    enabled = BooleanAttribute()
    disabled_reason = UnicodeAttribute(null=True)
    consecutive_dead = NumberAttribute(default=0)
    version = NumberAttribute()
    created_at = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    by_kind = ByKind()


class AttemptMap(MapAttribute[str, Any]):
    at = UnicodeAttribute()
    status = NumberAttribute(null=True)
    ok = BooleanAttribute()
    detail = UnicodeAttribute()
    duration_ms = NumberAttribute()


class DeliveryItem(Model):
    class Meta:
        table_name = "oncall-webhooks"
        region = "us-east-1"
        host: str | None = None

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    id = UnicodeAttribute()
    subscription_id = UnicodeAttribute()
    event_type = UnicodeAttribute()
    event_id = UnicodeAttribute()
    body = UnicodeAttribute()
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    created_at = UnicodeAttribute()
    next_attempt_at = UnicodeAttribute(null=True)
    lease_until = UnicodeAttribute(null=True)
    history = ListAttribute(of=AttemptMap, default=list)
    expires_at = NumberAttribute()
    #: present only while pending (sparse index ``by-due``)
    due_bucket = UnicodeAttribute(null=True)
    due_sort = UnicodeAttribute(null=True)
    #: how many times a sweep re-queued a lost attempt job
    requeues = NumberAttribute(null=True)
    by_due = ByDue()


MODELS: tuple[type[Model], ...] = (SubscriptionItem, DeliveryItem)


def bind(table: str, region: str, host: str | None = None) -> None:
    for model in MODELS:
        model.Meta.table_name = table
        model.Meta.region = region
        model.Meta.host = host
        model._connection = None


def _to_subscription(item: SubscriptionItem) -> Subscription:
    return Subscription(
        id=item.id,
        url=item.url,
        events=tuple(item.events),
        secret=item.secret,
        created_at=datetime.fromisoformat(item.created_at),
        previous_secret=item.previous_secret,
        previous_until=_dt(item.previous_until),
        enabled=item.enabled,
        disabled_reason=item.disabled_reason,
        consecutive_dead=int(item.consecutive_dead or 0),
        version=int(item.version),
        description=item.description,
    )


def _to_delivery(item: DeliveryItem) -> WebhookDelivery:
    return WebhookDelivery(
        id=item.id,
        subscription_id=item.subscription_id,
        event_type=item.event_type,
        event_id=item.event_id,
        body=item.body,
        status=DeliveryStatus(item.status),
        created_at=datetime.fromisoformat(item.created_at),
        attempts=int(item.attempts or 0),
        next_attempt_at=_dt(item.next_attempt_at),
        history=tuple(
            Attempt(
                at=datetime.fromisoformat(a.at),
                status=int(a.status) if a.status is not None else None,
                ok=bool(a.ok),
                detail=a.detail,
                duration_ms=int(a.duration_ms),
            )
            for a in (item.history or [])
        ),
    )


class DynamoWebhookStore:
    """Implements ``oncall.services.webhooks.WebhookStore``."""

    def __init__(self, outbox_table: str | None = None) -> None:
        self.outbox_table = outbox_table

    # -- subscriptions -------------------------------------------------------------------------------------------
    def create(self, sub: Subscription) -> None:
        SubscriptionItem(
            sub_pk(sub.id),
            META,
            kind=KIND,
            kind_sort=f"{_iso(sub.created_at)}#{sub.id}",
            id=sub.id,
            url=sub.url,
            events=list(sub.events),
            secret=sub.secret,
            enabled=sub.enabled,
            consecutive_dead=0,
            version=sub.version,
            created_at=_iso(sub.created_at),
            description=sub.description,
        ).save(condition=SubscriptionItem.pk.does_not_exist())

    def get(self, subscription_id: str) -> Subscription | None:
        try:
            return _to_subscription(SubscriptionItem.get(sub_pk(subscription_id), META, consistent_read=True))
        except SubscriptionItem.DoesNotExist:
            return None

    def page(self, limit: int, cursor: Mapping[str, Any] | None) -> tuple[list[Subscription], dict[str, Any] | None]:
        result = SubscriptionItem.by_kind.query(KIND, limit=limit, last_evaluated_key=dict(cursor) if cursor else None)
        items = [_to_subscription(i) for i in result]
        return items, result.last_evaluated_key

    def all(self) -> Iterator[Subscription]:
        for item in SubscriptionItem.by_kind.query(KIND):
            yield _to_subscription(item)

    def delete(self, subscription_id: str) -> bool:
        try:
            SubscriptionItem(sub_pk(subscription_id), META).delete(condition=SubscriptionItem.pk.exists())
        except DeleteError as exc:
            if _conditional(exc):
                return False
            raise
        return True

    def rotate(self, sub: Subscription, secret: str, previous_until: datetime) -> bool:
        try:
            SubscriptionItem(sub_pk(sub.id), META).update(
                actions=[
                    SubscriptionItem.secret.set(secret),
                    SubscriptionItem.previous_secret.set(sub.secret),
                    SubscriptionItem.previous_until.set(_iso(previous_until)),
                    SubscriptionItem.version.set(sub.version + 1),
                ],
                condition=SubscriptionItem.version == sub.version,
            )
        except UpdateError as exc:
            if _conditional(exc):
                return False
            raise
        return True

    def record_success(self, subscription_id: str) -> None:
        """A delivered attempt clears the dead-letter streak (only written when there is one, to keep writes few)."""
        try:
            SubscriptionItem(sub_pk(subscription_id), META).update(
                actions=[SubscriptionItem.consecutive_dead.set(0)],
                condition=SubscriptionItem.pk.exists() & (SubscriptionItem.consecutive_dead > 0),
            )
        except UpdateError as exc:
            if not _conditional(exc):
                raise

    def record_dead(self, subscription_id: str) -> Subscription | None:
        """One more dead letter in a row; the subscription as it is now (None if deleted meanwhile)."""
        try:
            item = SubscriptionItem(sub_pk(subscription_id), META)
            item.update(
                actions=[SubscriptionItem.consecutive_dead.add(1)],
                condition=SubscriptionItem.pk.exists(),
            )
        except UpdateError as exc:
            if _conditional(exc):
                return None
            raise
        return self.get(subscription_id)

    def disable(self, sub: Subscription, reason: str, event: DomainEvent) -> bool:
        """Disable and announce it (outbox) in one transaction; False when someone else changed it first."""
        try:
            with TransactWrite(connection=Connection(region=SubscriptionItem.Meta.region)) as tx:
                tx.update(
                    SubscriptionItem(sub_pk(sub.id), META),
                    actions=[
                        SubscriptionItem.enabled.set(False),
                        SubscriptionItem.disabled_reason.set(reason),
                        SubscriptionItem.version.set(sub.version + 1),
                    ],
                    condition=(SubscriptionItem.version == sub.version) & (SubscriptionItem.enabled == True),  # noqa: E712
                )
                outbox.add(tx, event)
        except TransactWriteError:
            return False
        return True

    def enable(self, sub: Subscription) -> None:
        SubscriptionItem(sub_pk(sub.id), META).update(
            actions=[
                SubscriptionItem.enabled.set(True),
                SubscriptionItem.disabled_reason.remove(),
                SubscriptionItem.consecutive_dead.set(0),
                SubscriptionItem.version.set(sub.version + 1),
            ],
            condition=SubscriptionItem.pk.exists(),
        )

    # -- deliveries ----------------------------------------------------------------------------------------------
    def add_delivery(self, delivery: WebhookDelivery) -> bool:
        """Create it; False when it already exists (a duplicated event or fan-out retry)."""
        try:
            DeliveryItem(
                sub_pk(delivery.subscription_id),
                dlv_sk(delivery.id),
                id=delivery.id,
                subscription_id=delivery.subscription_id,
                event_type=delivery.event_type,
                event_id=delivery.event_id,
                body=delivery.body,
                status=delivery.status.value,
                attempts=0,
                created_at=_iso(delivery.created_at),
                history=[],
                expires_at=int((delivery.created_at + DELIVERY_TTL).timestamp()),
                due_bucket=DUE_BUCKET,
                due_sort=due_sort(delivery.created_at, delivery.subscription_id, delivery.id),
            ).save(condition=DeliveryItem.pk.does_not_exist())
        except PutError as exc:
            if _conditional(exc):
                return False
            raise
        return True

    def delivery(self, subscription_id: str, delivery_id: str) -> WebhookDelivery | None:
        try:
            item = DeliveryItem.get(sub_pk(subscription_id), dlv_sk(delivery_id), consistent_read=True)
        except DeliveryItem.DoesNotExist:
            return None
        return _to_delivery(item)

    def deliveries(
        self, subscription_id: str, limit: int, cursor: Mapping[str, Any] | None, status: str | None = None
    ) -> tuple[list[WebhookDelivery], dict[str, Any] | None]:
        result = DeliveryItem.query(
            sub_pk(subscription_id),
            DeliveryItem.sk.startswith("DLV#"),
            filter_condition=(DeliveryItem.status == status) if status else None,
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=dict(cursor) if cursor else None,
        )
        return [_to_delivery(i) for i in result], result.last_evaluated_key

    def claim(
        self, subscription_id: str, delivery_id: str, attempts_made: int, now: datetime, lease: timedelta
    ) -> WebhookDelivery | None:
        item = DeliveryItem(sub_pk(subscription_id), dlv_sk(delivery_id))
        try:
            item.update(
                actions=[
                    DeliveryItem.attempts.set(attempts_made + 1),
                    DeliveryItem.lease_until.set(_iso(now + lease)),
                ],
                condition=(DeliveryItem.status == DeliveryStatus.PENDING.value)
                & (
                    (DeliveryItem.attempts == attempts_made)
                    | ((DeliveryItem.attempts == attempts_made + 1) & (DeliveryItem.lease_until < _iso(now)))
                ),
            )
        except UpdateError as exc:
            if not _conditional(exc):
                raise
            try:
                current = DeliveryItem.get(sub_pk(subscription_id), dlv_sk(delivery_id), consistent_read=True)
            except DeliveryItem.DoesNotExist:
                return None
            held_until = _dt(current.lease_until)
            if (
                current.status == DeliveryStatus.PENDING.value
                and int(current.attempts or 0) == attempts_made + 1
                and held_until is not None
                and held_until >= now
            ):
                raise AttemptInFlight(
                    f"attempt {attempts_made + 1} of {delivery_id} is leased until {held_until}"
                ) from None
            return None
        return _to_delivery(item)

    def finish(
        self,
        delivery: WebhookDelivery,
        attempt: Attempt,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
    ) -> None:
        record = AttemptMap(  # type: ignore[no-untyped-call]
            at=_iso(attempt.at),
            status=attempt.status,
            ok=attempt.ok,
            detail=attempt.detail[:300],
            duration_ms=attempt.duration_ms,
        )
        actions: list[Any] = [
            DeliveryItem.status.set(status.value),
            DeliveryItem.history.set(DeliveryItem.history.append([record])),
            DeliveryItem.lease_until.remove(),
        ]
        if next_attempt_at is not None:
            actions.append(DeliveryItem.next_attempt_at.set(_iso(next_attempt_at)))
        else:
            actions.append(DeliveryItem.next_attempt_at.remove())
        if status is DeliveryStatus.PENDING:
            at = next_attempt_at or attempt.at
            actions += [
                DeliveryItem.due_bucket.set(DUE_BUCKET),
                DeliveryItem.due_sort.set(due_sort(at, delivery.subscription_id, delivery.id)),
            ]
        else:
            actions += [DeliveryItem.due_bucket.remove(), DeliveryItem.due_sort.remove()]
        DeliveryItem(sub_pk(delivery.subscription_id), dlv_sk(delivery.id)).update(
            actions=actions,
            # only the claimant of this attempt writes its outcome
            condition=(DeliveryItem.attempts == delivery.attempts)
            & (DeliveryItem.status == DeliveryStatus.PENDING.value),
        )

    def cancel(self, delivery: WebhookDelivery, reason: str, now: datetime) -> None:
        record = AttemptMap(  # type: ignore[no-untyped-call]
            at=_iso(now), status=None, ok=False, detail=reason[:300], duration_ms=0
        )
        try:
            DeliveryItem(sub_pk(delivery.subscription_id), dlv_sk(delivery.id)).update(
                actions=[
                    DeliveryItem.status.set(DeliveryStatus.CANCELLED.value),
                    DeliveryItem.history.set(DeliveryItem.history.append([record])),
                    DeliveryItem.lease_until.remove(),
                    DeliveryItem.due_bucket.remove(),
                    DeliveryItem.due_sort.remove(),
                ],
                condition=DeliveryItem.status == DeliveryStatus.PENDING.value,
            )
        except UpdateError as exc:
            if not _conditional(exc):
                raise

    def reopen(self, delivery: WebhookDelivery, now: datetime) -> WebhookDelivery | None:
        """Back to pending with a fresh attempt count (redelivery); None unless it had ended."""
        try:
            DeliveryItem(sub_pk(delivery.subscription_id), dlv_sk(delivery.id)).update(
                actions=[
                    DeliveryItem.status.set(DeliveryStatus.PENDING.value),
                    DeliveryItem.attempts.set(0),
                    DeliveryItem.next_attempt_at.set(_iso(now)),
                    DeliveryItem.lease_until.remove(),
                    DeliveryItem.due_bucket.set(DUE_BUCKET),
                    DeliveryItem.due_sort.set(due_sort(now, delivery.subscription_id, delivery.id)),
                ],
                condition=DeliveryItem.status != DeliveryStatus.PENDING.value,
            )
        except UpdateError as exc:
            if _conditional(exc):
                return None
            raise
        return self.delivery(delivery.subscription_id, delivery.id)

    # -- the sweep -------------------------------------------------------------------------------------------------
    def overdue(self, cutoff: datetime, limit: int) -> list[OverdueDelivery]:
        """Pending deliveries whose next attempt was due at or before ``cutoff``, oldest first (index reads only)."""
        out: list[OverdueDelivery] = []
        result = DeliveryItem.by_due.query(
            DUE_BUCKET,
            DeliveryItem.due_sort <= _stamp(cutoff) + "~",
            limit=limit,
            page_size=min(limit, 100),
        )
        for item in result:
            out.append(
                OverdueDelivery(
                    subscription_id=item.subscription_id,
                    delivery_id=item.id,
                    attempts=int(item.attempts or 0),
                    due=_from_stamp(str(item.due_sort).split("#", 1)[0]),
                    lease_until=_dt(item.lease_until),
                    token=str(item.due_sort),
                )
            )
        return out

    def mark_requeued(self, overdue: OverdueDelivery, now: datetime) -> bool:
        """Move the delivery's due time to ``now`` if nobody touched it since it was read; False otherwise (another
        sweep requeued it, an attempt ran, or it ended)."""
        try:
            DeliveryItem(sub_pk(overdue.subscription_id), dlv_sk(overdue.delivery_id)).update(
                actions=[
                    DeliveryItem.due_sort.set(due_sort(now, overdue.subscription_id, overdue.delivery_id)),
                    DeliveryItem.requeues.add(1),
                ],
                condition=(DeliveryItem.status == DeliveryStatus.PENDING.value)
                & (DeliveryItem.due_sort == overdue.token)
                & (DeliveryItem.attempts == overdue.attempts),
            )
        except UpdateError as exc:
            if _conditional(exc):
                return False
            raise
        return True


def _conditional(exc: Exception) -> bool:
    cause = getattr(exc, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"
