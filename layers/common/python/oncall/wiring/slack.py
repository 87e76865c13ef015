"""The Slack app and what its commands and buttons reach."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oncall.settings import SlackSettings, get_settings, load
from oncall.wiring import core, incidents, notifications
from oncall.wiring.seam import once, secret_reader

if TYPE_CHECKING:
    from oncall.domain.incidents import Incident
    from oncall.domain.services_catalog import Service
    from oncall.domain.users import User
    from oncall.services.slack_app import SlackApp
    from oncall.services.telegram_bot import CallbackHandler


def slack_signing_secret() -> str:
    def build() -> str:
        ref = load(SlackSettings).signing_secret_ref
        return secret_reader().value(ref) if ref.configured else ""

    return once("slack_signing_secret", build)


def slack_callback_handlers() -> dict[str, CallbackHandler]:
    """Button handlers by callback-data domain, as for Telegram (``oncall.wiring.telegram.callback_handlers``); the
    incident buttons record that the move came from Slack."""

    def build() -> dict[str, CallbackHandler]:
        from oncall.services.incident_buttons import IncidentButtons

        handlers: dict[str, CallbackHandler] = {"inc": IncidentButtons(incidents.incident_service(), channel="slack")}
        return handlers

    return once("slack_callback_handlers", build)


class _Opener:
    """``oncall.services.slack_app.Opener`` over the catalog and incident services (the API's own checks)."""

    def services_for(self, actor: User) -> list[Service]:
        from oncall.domain.teams import Access, Power

        found, _ = incidents.catalog_service().list_services(actor, 200, None)
        access = Access.of(actor)
        return [s for s in found if access.can(s.team_id, Power.ACT)]

    def open(self, actor: User, service_id: str, title: str) -> Incident:
        from oncall.domain.incidents import Severity

        return incidents.incident_service().create(actor, title=title, service_id=service_id, severity=Severity.HIGH)


def slack_app() -> SlackApp:
    def build() -> SlackApp:
        from oncall.adapters.dynamodb.slack_links import DynamoSlackLinks, DynamoSlackPeople
        from oncall.services.slack_app import SlackApp
        from oncall.services.telegram_bot import ScheduleDuty

        client = notifications.slack_client()
        if client is None:
            raise load(SlackSettings).bot_token_ref.missing()
        settings = get_settings()
        users = core.user_store()

        def name_of(user_id: str) -> str | None:
            user = users.get(user_id)
            return user.display_name if user is not None and user.active else None

        return SlackApp(
            api=client,
            links=DynamoSlackLinks(settings.table("notifications")),
            people=DynamoSlackPeople(settings.table("users")),
            flags=notifications.delivery_log(),
            duty=ScheduleDuty(core.schedule_service(), name_of),
            opener=_Opener(),
            callbacks=slack_callback_handlers,
        )

    return once("slack_app", build)


def verified(body: str, headers: dict[str, str]) -> bool:
    """Slack's signature on a request (``oncall.adapters.slack.verify_request``), against the wiring's clock."""
    from oncall.adapters.slack import verify_request
    from oncall.wiring.seam import clock

    return verify_request(slack_signing_secret(), body, headers, clock())


def slack_app_events(body: dict[str, object]) -> dict[str, object]:
    """The events URL's answer (Slack's URL check): needs no bot token, so the URL can be set before the token."""
    from oncall.services.slack_app import SlackApp

    return SlackApp.event(body)
