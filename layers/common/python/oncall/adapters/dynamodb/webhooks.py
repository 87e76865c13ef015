"""The store of outgoing webhooks: table ``webhooks`` (declared in ``infra/topology.py``).

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

The parts: ``webhook_items`` (keys and item shapes), ``webhook_subscriptions`` and ``webhook_deliveries`` (the
operations on each kind, the attempt claim and the sweep with them); ``DynamoWebhookStore`` is both.
"""

from __future__ import annotations

from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.webhook_deliveries import Deliveries
from oncall.adapters.dynamodb.webhook_subscriptions import Subscriptions


class DynamoWebhookStore(Subscriptions, Deliveries):
    """Implements ``oncall.services.webhook_ports.WebhookStore``. ``outbox_table`` is where ``disable`` announces
    itself (None: the configured outbox table)."""

    def __init__(self, table: str, client: Any = None, *, outbox_table: str | None = None) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()
        self.outbox_table = outbox_table

    # the port still names the subscription list ``page``; ``paginate`` is what it does
    page = Subscriptions.paginate
