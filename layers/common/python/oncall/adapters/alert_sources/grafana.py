"""Grafana unified alerting webhook contact point: the Alertmanager shape (``version: "1"``) plus Grafana fields
(``orgId``, ``title``, ``state``, per-alert ``dashboardURL``/``panelURL``/``values``), and an optional HMAC.

When the contact point's *HMAC signature* is configured, Grafana sends ``X-Grafana-Alerting-Signature`` = hex
HMAC-SHA256 of the body under the shared secret; with a timestamp header configured
(``X-Grafana-Alerting-Signature-Timestamp``) the signed text is ``<timestamp>:<body>``. We verify it (constant-time)
whenever ``ONCALL_ALERTS_GRAFANA_HMAC_SECRET`` is set, and refuse a missing or wrong signature.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

from oncall.adapters.alert_sources import alertmanager
from oncall.domain.alerts import Alert
from oncall.domain.errors import Unauthenticated
from oncall.domain.incidents import Source
from oncall.services.alert_ports import Delivery, Sender

#: the source's name at alert intake (``AlertService.receive``)
NAME = "grafana"

SIGNATURE_HEADER = "x-grafana-alerting-signature"
TIMESTAMP_HEADER = "x-grafana-alerting-signature-timestamp"


def signature(secret: str, body: str, timestamp: str | None = None) -> str:
    text = f"{timestamp}:{body}" if timestamp else body
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: str, headers: Mapping[str, str]) -> bool:
    lowered = {k.lower(): v for k, v in headers.items()}
    presented = lowered.get(SIGNATURE_HEADER, "").strip().lower()
    expected = signature(secret, body, lowered.get(TIMESTAMP_HEADER) or None)
    return hmac.compare_digest(presented.encode(), expected.encode())


def to_alerts(body: Any, service_id: str) -> list[Alert]:
    return alertmanager.to_alerts(body, service_id, source=Source.GRAFANA)


class GrafanaSource:
    """``AlertSource`` for ``POST /integrations/grafana``: Alertmanager's, plus the signature when ``secret()`` gives
    one (asked only once a delivery's sender is known: it may be read from SSM)."""

    def __init__(self, secret: Callable[[], str | None]) -> None:
        self.secret = secret

    def sender(self, payload: Delivery, key: str | None) -> Sender:
        return alertmanager.bearer_sender(key)

    def alerts(self, payload: Delivery, service_id: str) -> list[Alert]:
        secret = self.secret()
        if secret and not signature_valid(secret, payload.body or "", payload.headers):
            raise Unauthenticated("missing or wrong X-Grafana-Alerting-Signature", reason="signature")
        return to_alerts(alertmanager.json_body(payload), service_id)
