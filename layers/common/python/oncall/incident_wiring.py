"""Composition of the incident capability (services, policies, incidents, the lifecycle tasks, Telegram buttons).

Kept beside ``oncall.wiring`` and built through its ``_once`` cache, so ``wiring.override(...)`` / ``wiring.reset()``
apply here too (a test can hand in a clock, a lifecycle or a pager) and handlers import only what they use.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING

from oncall import wiring
from oncall.settings import get_settings

if TYPE_CHECKING:
    from oncall.domain.users import User
    from oncall.services.catalog import CatalogService
    from oncall.services.escalation import EscalationService
    from oncall.services.incident_ports import CatalogStore, IncidentStore, Lifecycle, Pager, People
    from oncall.services.incidents import IncidentService
    from oncall.services.notify import QueueListener
    from oncall.services.telegram_bot import CallbackOutcome

STATE_MACHINE_ENV = "ONCALL_STATE_MACHINE_INCIDENT_LIFECYCLE"


def incident_store() -> IncidentStore:
    def build() -> IncidentStore:
        from oncall.adapters.dynamodb.incidents import DynamoIncidentStore

        settings = get_settings()
        return DynamoIncidentStore(settings.table("incidents"), outbox_table=settings.table("outbox"))

    return wiring._once("incident_store", build)


def catalog_store() -> CatalogStore:
    def build() -> CatalogStore:
        from oncall.adapters.dynamodb.catalog import DynamoCatalogStore

        return DynamoCatalogStore(get_settings().table("catalog"))

    return wiring._once("catalog_store", build)


def lifecycle() -> Lifecycle:
    def build() -> Lifecycle:
        from oncall.adapters.lifecycle import StepFunctionsLifecycle

        return StepFunctionsLifecycle(os.environ.get(STATE_MACHINE_ENV))

    return wiring._once("lifecycle", build)


def _people() -> People:
    from oncall.adapters.dynamodb.identity import DynamoUserStore

    wiring._bind_identity_tables()
    return DynamoUserStore()


def catalog_service() -> CatalogService:
    def build() -> CatalogService:
        from oncall.services.catalog import CatalogService

        return CatalogService(catalog_store(), _people(), wiring.clock())

    return wiring._once("catalog_service", build)


def incident_service() -> IncidentService:
    def build() -> IncidentService:
        from oncall.services.incidents import IncidentService

        return IncidentService(incident_store(), catalog_store(), _people(), lifecycle(), wiring.clock())

    return wiring._once("incident_service", build)


def pager() -> Pager:
    def build() -> Pager:
        from oncall.adapters.lifecycle import NotifyPager

        return NotifyPager(wiring.notification_service())

    return wiring._once("pager", build)


def escalation_service() -> EscalationService:
    def build() -> EscalationService:
        from oncall.adapters.lifecycle import ScheduleOnCall
        from oncall.services.escalation import EscalationService

        return EscalationService(
            incidents=incident_store(),
            catalog=catalog_store(),
            people=_people(),
            oncall=ScheduleOnCall(wiring.schedule_service()),
            pager=pager(),
            lifecycle=lifecycle(),
            incident_service=incident_service(),
            clock=wiring.clock(),
        )

    return wiring._once("escalation_service", build)


def page_listener() -> QueueListener:
    def build() -> QueueListener:
        from oncall.adapters.lifecycle import PageListener

        return PageListener(escalation_service())

    return wiring._once("page_listener", build)


_CALLBACK_ACTIONS = {"ack": "acknowledge", "res": "resolve"}
_DONE_TEXT = {"acknowledge": "✅ Acknowledged", "resolve": "☑️ Resolved"}


def incident_callback(user: User, action: str, incident_id: str, now: datetime) -> CallbackOutcome:
    """Telegram ``inc:<ack|res>:<id>``: the move as the linked person (role checked); the pressed message is edited
    to say who did what. Callback data is untrusted: an unknown action or id is refused, never guessed."""
    from oncall.domain.errors import DomainError
    from oncall.domain.incidents import Action, IllegalTransition
    from oncall.domain.notifications import Button
    from oncall.services.escalation import after_ack_buttons, outcome_text
    from oncall.services.telegram_bot import CallbackOutcome

    name = _CALLBACK_ACTIONS.get(action)
    if name is None or not incident_id or len(incident_id) > 40 or not incident_id.isalnum():
        return CallbackOutcome(toast="This button is not recognised.", keep_buttons=True)
    service = incident_service()
    try:
        incident = service.act(user, incident_id, Action(name), channel="telegram")
    except IllegalTransition as exc:
        return CallbackOutcome(toast=f"Already {exc.current.value}.", keep_buttons=exc.current.value != "closed")
    except DomainError as exc:
        return CallbackOutcome(toast=exc.message[:200], keep_buttons=True)
    verb = "Acknowledged" if name == "acknowledge" else "Resolved"
    text = outcome_text(
        incident.title, incident.id, verb, user.display_name, incident.updated_at, severity=incident.severity.value
    )
    # after an ack only Resolve still makes sense; after a resolve nothing does
    buttons = (
        tuple(tuple(Button(b.text, b.callback_data) for b in row) for row in after_ack_buttons(incident.id))
        if name == "acknowledge"
        else ()
    )
    title = incident.title if len(incident.title) <= 60 else incident.title[:59] + "…"
    line = f"{_DONE_TEXT[name]} by {user.display_name} at {incident.updated_at.strftime('%H:%M UTC')}: {title}"
    return CallbackOutcome(toast=f"{_DONE_TEXT[name]}.", new_text=text, buttons=buttons, line=line)
