"""Alert ingestion: the alert store and service, and the Grafana signing secret."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING

from oncall.settings import get_settings
from oncall.wiring import incidents
from oncall.wiring.seam import clock, once

if TYPE_CHECKING:
    from oncall.services.alert_ports import AlertSource, AlertStore
    from oncall.services.alerts import AlertService

GRAFANA_SECRET_ENV = "ONCALL_SECRET_GRAFANA_WEBHOOK_HMAC"  # noqa: S105 - the variable naming the secret, not it


def alert_store() -> AlertStore:
    def build() -> AlertStore:
        from oncall.adapters.dynamodb.alerts import DynamoAlertStore

        return DynamoAlertStore(get_settings().table("alerts"))

    return once("alert_store", build)


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
        )
        return AlertService(
            alert_store(),
            incidents.incident_service(),
            incidents.catalog_service(),
            rules,
            clock(),
            new_id,
            sources=alert_sources(),
        )

    return once("alert_service", build)


def alert_sources() -> dict[str, AlertSource]:
    """Every source alert intake reads, by the name it is received under: the HTTP routes' and the bus events'
    ``source``. A new source registers here."""

    def build() -> dict[str, AlertSource]:
        from oncall.adapters.alert_sources import alertmanager, cloudwatch, custom, grafana, pagerduty

        knobs = get_settings().alerts
        return {
            pagerduty.NAME: pagerduty.PagerDutySource(),
            alertmanager.NAME: alertmanager.AlertmanagerSource(),
            grafana.NAME: grafana.GrafanaSource(grafana_hmac_secret),
            cloudwatch.SOURCE: cloudwatch.CloudWatchSource(dict(knobs.cloudwatch_services), knobs.insufficient_data),
            custom.SOURCE: custom.CustomEventSource(),
        }

    return once("alert_sources", build)


def grafana_hmac_secret() -> str | None:
    """The secret Grafana signs with, or None when signatures are not required. Read once per cold start: from
    ``ONCALL_ALERTS_GRAFANA_HMAC_SECRET`` (local runs, tests) or, with ``ONCALL_ALERTS_GRAFANA_HMAC=required``, from
    the Secrets Manager secret ``grafana-webhook-hmac`` (the deployed stack keeps secrets out of the environment)."""

    def build() -> str | None:
        knobs = get_settings().alerts
        if knobs.grafana_hmac_secret:
            return knobs.grafana_hmac_secret
        if knobs.grafana_hmac != "required":
            return None
        secret_id = os.environ.get(GRAFANA_SECRET_ENV)
        if not secret_id:
            raise RuntimeError(f"ONCALL_ALERTS_GRAFANA_HMAC=required but {GRAFANA_SECRET_ENV} is not set")
        import boto3

        client = boto3.client("secretsmanager", region_name=get_settings().region)
        value = client.get_secret_value(SecretId=secret_id).get("SecretString")
        if not isinstance(value, str) or not value.strip():
            raise RuntimeError("the grafana-webhook-hmac secret is empty")
        return value.strip()

    return once("grafana_hmac_secret", build)
