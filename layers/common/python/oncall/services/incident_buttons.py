"""The incident buttons on pages (``inc:ack:<id>``, ``inc:res:<id>``): a press is the move made by the linked person,
and the pressed message says who did what. Registered with the bot under the ``inc`` callback domain."""

from __future__ import annotations

from datetime import datetime

from oncall.domain import texts
from oncall.domain.errors import DomainError
from oncall.domain.incidents import Action, IllegalTransition
from oncall.domain.notifications import Button
from oncall.domain.users import User
from oncall.services.incident_pages import after_ack_buttons, outcome_text
from oncall.services.incidents import IncidentService
from oncall.services.telegram_bot import CallbackOutcome

_ACTIONS = {"ack": Action.ACKNOWLEDGE, "res": Action.RESOLVE}
_DONE: dict[Action, texts.Done] = {Action.ACKNOWLEDGE: "acknowledged", Action.RESOLVE: "resolved"}


class IncidentButtons:
    def __init__(self, incidents: IncidentService, channel: str = "telegram") -> None:
        self.incidents = incidents
        #: where the press came from, for the timeline (the same buttons ride on Telegram and Slack pages)
        self.channel = channel

    def __call__(self, user: User, action: str, incident_id: str, now: datetime) -> CallbackOutcome:
        """Callback data is untrusted: an unknown action or id is refused, never guessed; the role is checked by the
        incident service as for the API."""
        move = _ACTIONS.get(action)
        if move is None or not incident_id or len(incident_id) > 40 or not incident_id.isalnum():
            return CallbackOutcome(toast=texts.INCIDENT_BUTTON_UNRECOGNISED, keep_buttons=True)
        try:
            incident = self.incidents.act(user, incident_id, move, channel=self.channel)
        except IllegalTransition as exc:
            return CallbackOutcome(toast=texts.already(exc.current.value), keep_buttons=exc.current.value != "closed")
        except DomainError as exc:
            return CallbackOutcome(toast=exc.message[:200], keep_buttons=True)
        done = _DONE[move]
        text = outcome_text(
            incident.title, incident.id, done, user.display_name, incident.updated_at, severity=incident.severity.value
        )
        # after an ack only Resolve still makes sense; after a resolve nothing does
        buttons = (
            tuple(tuple(Button(b.text, b.callback_data) for b in row) for row in after_ack_buttons(incident.id))
            if move is Action.ACKNOWLEDGE
            else ()
        )
        line = texts.outcome_line(done, user.display_name, incident.updated_at, incident.title)
        return CallbackOutcome(toast=texts.outcome_toast(done), new_text=text, buttons=buttons, line=line)
