"""Composition of alert ingestion, beside ``oncall.incident_wiring`` and built through ``oncall.wiring``'s cache (so
``wiring.override(...)`` / ``wiring.reset()`` apply: a test can hand in a clock)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from oncall import incident_wiring, wiring
from oncall.settings import get_settings

if TYPE_CHECKING:
    from oncall.services.alerts import AlertService, AlertStore


def alert_store() -> AlertStore:
    def build() -> AlertStore:
        from oncall.adapters.dynamodb.alerts import DynamoAlertStore

        return DynamoAlertStore(get_settings().table("alerts"))

    return wiring._once("alert_store", build)


def alert_service() -> AlertService:
    def build() -> AlertService:
        from oncall.domain.alerts import ResolvePolicy
        from oncall.services.alerts import AlertRules, AlertService
        from oncall.services.incidents import new_id

        knobs = get_settings().alerts
        rules = AlertRules(
            rate_per_minute=knobs.rate_per_minute,
            correlation_window=timedelta(seconds=knobs.correlation_window_seconds),
            resolve_policy=ResolvePolicy(knobs.resolve_policy),
            insufficient_data=knobs.insufficient_data,
            cloudwatch_services=dict(knobs.cloudwatch_services),
            grafana_hmac_secret=knobs.grafana_hmac_secret,
        )
        return AlertService(
            alert_store(),
            incident_wiring.incident_service(),
            incident_wiring.catalog_service(),
            rules,
            wiring.clock(),
            new_id,
        )

    return wiring._once("alert_service", build)
