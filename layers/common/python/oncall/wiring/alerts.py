"""Alert ingestion: the alert store and service, and the Grafana signing secret."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from oncall.settings import GrafanaSettings, get_settings, load
from oncall.wiring import core, incidents
from oncall.wiring.seam import clock, once, secret_reader

if TYPE_CHECKING:
    from oncall.services.alert_ports import AlertSource, AlertStore
    from oncall.services.alerts import AlertService
    from oncall.services.routing import RoutingService


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
            router=routing_service(),
        )

    return once("alert_service", build)


def routing_service() -> RoutingService:
    """Maintenance windows, silences, event rules and urgency: what intake asks before an alert opens anything."""

    def build() -> RoutingService:
        from oncall.adapters.dynamodb.routing import DynamoRoutingStore
        from oncall.services.incidents import new_id
        from oncall.services.routing import RoutingService

        settings = get_settings()
        store = DynamoRoutingStore(settings.table("catalog"), settings.table("alerts"))
        return RoutingService(
            store,
            incidents.catalog_store(),
            clock(),
            new_id,
            silence_ttl=settings.alerts.silence_cache_seconds,
            audit=core.audit(),
        )

    return once("routing_service", build)


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
    the secret parameter ``grafana-webhook-hmac`` (the deployed stack keeps secrets out of the environment)."""

    def build() -> str | None:
        where = load(GrafanaSettings).secret
        return None if where is None else secret_reader().value(where)

    return once("grafana_hmac_secret", build)
