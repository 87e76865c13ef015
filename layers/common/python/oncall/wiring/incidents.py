"""The catalog (monitored services, escalation policies), incidents, and the lifecycle's tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oncall.settings import LifecycleSettings, get_settings, load
from oncall.wiring import core, notifications
from oncall.wiring.seam import clock, once

if TYPE_CHECKING:
    from oncall.services.catalog import CatalogService
    from oncall.services.escalation import EscalationService
    from oncall.services.incident_buttons import IncidentButtons
    from oncall.services.incident_channel import IncidentChannel
    from oncall.services.incident_ports import CatalogStore, IncidentStore, Lifecycle, Pager
    from oncall.services.incidents import IncidentService
    from oncall.services.lifecycle_sweep import LifecycleRuns
    from oncall.services.metrics import MetricsService
    from oncall.services.notify import QueueListener
    from oncall.services.stats import StatsService
    from oncall.services.teams import Owned, TeamService


def incident_store() -> IncidentStore:
    def build() -> IncidentStore:
        from oncall.adapters.dynamodb.incidents import DynamoIncidentStore

        settings = get_settings()
        return DynamoIncidentStore(
            settings.table("incidents"),
            # the lifecycle sweep only reads incidents: it is granted no outbox
            outbox_table=settings.tables.get("outbox"),
            # alert ingestion's claims ride in the incident's transaction; other functions write none
            alerts_table=settings.tables.get("alerts"),
        )

    return once("incident_store", build)


def catalog_store() -> CatalogStore:
    def build() -> CatalogStore:
        from oncall.adapters.dynamodb.catalog import DynamoCatalogStore

        return DynamoCatalogStore(get_settings().table("catalog"))

    return once("catalog_store", build)


def lifecycle() -> Lifecycle:
    def build() -> Lifecycle:
        from oncall.adapters.lifecycle import StepFunctionsLifecycle

        return StepFunctionsLifecycle(load(LifecycleSettings).state_machine_arn)

    return once("lifecycle", build)


def stream_lifecycle() -> Lifecycle:
    """The lifecycle as the publisher starts it: a start refused for a second is left to the bus path's starter
    (``oncall.services.lifecycle_start``) rather than holding the outbox stream back for the usual 8 s."""

    def build() -> Lifecycle:
        from oncall.adapters.lifecycle import StepFunctionsLifecycle

        return StepFunctionsLifecycle(load(LifecycleSettings).state_machine_arn, start_budget_s=1.0)

    return once("stream_lifecycle", build)


def lifecycle_runs() -> LifecycleRuns:
    """The lifecycle's executions for the sweep: statuses and starts (``oncall.services.lifecycle_sweep``)."""

    def build() -> LifecycleRuns:
        from oncall.adapters.lifecycle import StepFunctionsLifecycle

        return StepFunctionsLifecycle(load(LifecycleSettings).state_machine_arn)

    return once("lifecycle_runs", build)


def catalog_service() -> CatalogService:
    def build() -> CatalogService:
        from oncall.services.catalog import CatalogService

        teams = core.team_store() if "users" in get_settings().tables else None
        return CatalogService(catalog_store(), core.people(), clock(), teams, core.audit())

    return once("catalog_service", build)


def incident_service() -> IncidentService:
    def build() -> IncidentService:
        from oncall.services.incidents import IncidentService

        settings = get_settings()
        # the team list decides whether a person's incident list needs narrowing (functions without people's
        # requests never ask)
        teams = core.team_store() if {"catalog", "users"} <= set(settings.tables) else None
        return IncidentService(incident_store(), catalog_store(), core.people(), lifecycle(), clock(), teams)

    return once("incident_service", build)


def teams_migrated() -> bool:
    """Runs the teams migration (``oncall.adapters.dynamodb.teams_migration``) once per process: one GetItem of
    its marker after the first run anywhere. A failure is logged and leaves requests alone (until it has run, what it
    would write is already read that way); the next cold start tries again."""

    def build() -> bool:
        from oncall.adapters.dynamodb import kit
        from oncall.adapters.dynamodb.teams_migration import migrate
        from oncall.observability import log

        settings = get_settings()
        tables = {name: settings.table(name) for name in ("catalog", "users", "schedules")}
        try:
            moved = migrate(kit.client(), tables, clock()())
        except Exception:
            log.exception("teams migration failed; it runs again at the next cold start")
            return False
        if moved is not None:
            log.info("teams migration: moved into the default team %s", moved)
        return True

    return once("teams_migrated", build)


def pager() -> Pager:
    def build() -> Pager:
        from oncall.adapters.lifecycle import NotifyPager

        return NotifyPager(notifications.notification_service())

    return once("pager", build)


def incident_channel() -> IncidentChannel:
    """Incidents posted to their service's Slack channel (``oncall.services.incident_channel``): the Slack channel is
    the notification service's own, so posts share its rate windows; without a bot token nothing is posted and the
    timeline says why."""

    def build() -> IncidentChannel:
        from oncall.adapters.dynamodb.channel_posts import DynamoChannelPostLog
        from oncall.services.incident_channel import IncidentChannel

        settings = get_settings()
        notifier = notifications.notification_service()
        return IncidentChannel(
            DynamoChannelPostLog(settings.table("notifications")),
            catalog_store(),
            incident_store(),
            notifier,
            lambda: notifier.channels.get("slack"),
            settings.public_url,
            core.team_store(),
        )

    return once("incident_channel", build)


def escalation_service() -> EscalationService:
    def build() -> EscalationService:
        from oncall.adapters.lifecycle import ActiveAdmins, MetricAlarms, ScheduleOnCall
        from oncall.services.escalation import EscalationService

        return EscalationService(
            incidents=incident_store(),
            catalog=catalog_store(),
            people=core.people(),
            oncall=ScheduleOnCall(core.schedule_service()),
            pager=pager(),
            lifecycle=lifecycle(),
            incident_service=incident_service(),
            clock=clock(),
            admins=ActiveAdmins(core.user_store()),
            alarms=MetricAlarms(),
            channel=incident_channel(),
        )

    return once("escalation_service", build)


def page_listener() -> QueueListener:
    def build() -> QueueListener:
        from oncall.adapters.lifecycle import PageListener

        return PageListener(escalation_service())

    return once("page_listener", build)


def incident_buttons() -> IncidentButtons:
    def build() -> IncidentButtons:
        from oncall.services.incident_buttons import IncidentButtons

        return IncidentButtons(incident_service())

    return once("incident_buttons", build)


def team_service() -> TeamService:
    def build() -> TeamService:
        from oncall.services.teams import TeamService

        owners: list[Owned] = [catalog_store(), core.schedule_service()]
        return TeamService(core.team_store(), core.people(), owners, clock(), core.audit())

    return once("team_service", build)


def stats_service() -> StatsService:
    """The statistics rollups: kept by the stats function, read by the API's analytics."""

    def build() -> StatsService:
        from oncall.adapters.dynamodb.stats import DynamoStatsStore
        from oncall.services.stats import StatsService

        settings = get_settings()
        teams = core.team_store() if {"catalog", "users"} <= set(settings.tables) else None
        return StatsService(DynamoStatsStore(settings.table("stats")), teams, clock())

    return once("stats_service", build)


def metrics_service() -> MetricsService:
    """``GET /metrics``: the rollups' all-time cells and the current state of services and schedules."""

    def build() -> MetricsService:
        from oncall.adapters.dynamodb.routing import DynamoRoutingStore
        from oncall.services.metrics import MetricsService

        settings = get_settings()
        schedule_store = core.schedule_service().store
        routing = DynamoRoutingStore(settings.table("catalog"), settings.table("alerts"))
        return MetricsService(
            stats=stats_service(),
            services=lambda limit, cursor: catalog_store().list_services(limit, cursor),
            schedules=lambda limit, cursor: schedule_store.list_schedules(limit, cursor),
            on_call=schedule_store.on_call,
            clock=clock(),
            suppressed=routing.suppressed_totals,
        )

    return once("metrics_service", build)
