"""An incident's message in its service's Slack channel (or, when the service names none, its team's): posted once
per incident run when the lifecycle first pages, rewritten when it escalates, and rewritten with every other copy
when someone acknowledges or resolves it (docs/architecture.md, "Slack"). Without a bot token nothing is read or
posted.

- **Once**: the post is claimed per (incident, generation, cycle, channel) with a conditional put and a short lease
  (``ChannelPostLog``), so a retried task, a duplicated event or a second lifecycle task never posts twice; only a
  crash mid-post repeats it after the lease.
- **Like a page**: the message is the page (the same content and the same Acknowledge / Resolve buttons, whose
  presses act as the Slack member who pressed, linked person and roles checked as for a direct message). It is
  recorded on the timeline as a ``page`` line with its ref, so the lifecycle's announcement rewrites it with the
  people's copies.
- **Failures** never touch the people's pages and never raise into the lifecycle: Slack's answers that will not
  change (``channel_not_found``, ``not_in_channel``, ``is_archived``: the app is not in the channel) are recorded
  on the timeline and the post is ``refused`` for good; a full rate window, a long ``Retry-After`` or Slack being down
  is recorded as ``failed`` and tried again at the run's next level, never more often.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from oncall.domain import texts
from oncall.domain.incidents import Incident, TimelineEntry
from oncall.domain.notifications import Button, Kind, Message
from oncall.domain.page_content import PageContent, plain_text
from oncall.domain.services_catalog import Service
from oncall.domain.teams import DEFAULT_TEAM_ID, Team
from oncall.observability import log
from oncall.services.incident_pages import page_buttons, page_content, page_key
from oncall.services.incident_ports import CatalogStore
from oncall.services.incidents import entry
from oncall.services.notify_ports import Channel, Outcome

#: what became of one channel post: ``refused`` is for good (the channel is gone, archived, or the app not in it)
PostStatus = Literal["sending", "sent", "failed", "refused"]

#: how long a claimed post protects an in-flight send
LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class PostClaim:
    won: bool
    status: str | None = None
    ref: str | None = None
    level: int | None = None


class ChannelPostLog(Protocol):
    def claim(self, incident_id: str, run: str, channel: str, now: datetime, lease: timedelta) -> PostClaim:
        """Win the post of ``run`` (``<generation>:<cycle>``) to ``channel``: nothing stored, or ``failed``, or
        ``sending`` past its lease; otherwise the stored record."""
        ...

    def finish(
        self,
        incident_id: str,
        run: str,
        channel: str,
        status: PostStatus,
        ref: str | None,
        level: int,
        detail: str | None,
        now: datetime,
    ) -> None: ...


class Sender(Protocol):
    """The notification service's single send (rate windows shared with the pages, short waits, the channel's
    errors as outcomes) and its best-effort edit."""

    def send_on(
        self, channel: Channel, address: str, message: Message, *, queues: bool, window_taken: bool = False
    ) -> tuple[Outcome, str, float]: ...

    def edit(self, ref: str, text: str, buttons: tuple[tuple[Button, ...], ...] = ()) -> None: ...


class Timeline(Protocol):
    def add_entries(self, entries: list[TimelineEntry]) -> None: ...


class Teams(Protocol):
    def get(self, team_id: str) -> Team | None: ...


class IncidentChannel:
    def __init__(
        self,
        log_: ChannelPostLog,
        catalog: CatalogStore,
        timeline: Timeline,
        sender: Sender,
        slack: Callable[[], Channel | None],
        public_url: str | None = None,
        teams: Teams | None = None,
    ) -> None:
        self.log = log_
        self.catalog = catalog
        self.timeline = timeline
        self.sender = sender
        self.slack = slack
        self.public_url = public_url
        self.teams = teams

    def post(self, incident: Incident, now: datetime, service: Service | None = None) -> str | None:
        """Post (or, once posted, bring up to date) the incident's message in its channel; what happened (``sent``,
        ``updated``, ``duplicate``, ``failed``, ``refused``), None when there is no channel (or no Slack). Never
        raises: the people's pages come first. ``service``: the incident's service as the lifecycle's task already
        read it (docs/architecture.md, "Reads per page"); None reads it here."""
        try:
            slack = self.slack()
            if slack is None:
                return None
            if service is None or service.id != incident.service_id:
                service = self.catalog.get_service(incident.service_id)
            channel_id = self._channel_of(service) if service is not None else None
            if service is None or channel_id is None:
                return None
            content = page_content(incident, service, self.public_url, exhausted=False)
            return self._post(slack, incident, channel_id, content, now)
        except Exception:
            log.exception("slack channel post of incident %s failed", incident.id)
            return "failed"

    def _channel_of(self, service: Service) -> str | None:
        """The service's own channel, else its team's (one read, only for a service that names none)."""
        if service.slack_channel:
            return service.slack_channel
        if self.teams is None:
            return None
        team = self.teams.get(service.team_id or DEFAULT_TEAM_ID)
        return team.slack_channel if team is not None else None

    def _post(self, slack: Channel, incident: Incident, channel_id: str, content: PageContent, now: datetime) -> str:
        run = f"{incident.generation}:{incident.cycle}"
        level = incident.escalation_level
        claim = self.log.claim(incident.id, run, channel_id, now, LEASE)
        if not claim.won:
            if claim.status == "sent" and claim.ref and claim.level != level:
                # escalated since it was posted: the channel sees the level the incident is at now
                self.sender.edit(claim.ref, plain_text(content), _buttons(incident.id))
                self.log.finish(incident.id, run, channel_id, "sent", claim.ref, level, None, now)
                return "updated"
            return "duplicate"
        message = Message(
            Kind.PAGE,
            page_key(incident.id, incident.generation, incident.cycle, f"channel:{channel_id}"),
            plain_text(content),
            _buttons(incident.id),
            incident_id=incident.id,
            content=content,
        )
        # a full window is not waited for in-process (the lifecycle's task is holding): tried at the next level
        outcome, detail, _ = self.sender.send_on(slack, channel_id, message, queues=True)
        status: PostStatus = "sent" if outcome == "sent" else "refused" if outcome == "blocked" else "failed"
        ref = detail if status == "sent" else None
        why = None if status == "sent" else detail[:200]
        self.log.finish(incident.id, run, channel_id, status, ref, level, why, now)
        self.timeline.add_entries([self._line(incident, channel_id, status, ref, why, now)])
        if status != "sent":
            log.warning("slack channel %s: incident %s not posted (%s): %s", channel_id, incident.id, status, why)
        return status

    @staticmethod
    def _line(
        incident: Incident, channel_id: str, status: PostStatus, ref: str | None, why: str | None, now: datetime
    ) -> TimelineEntry:
        """A ``page`` line: with its ref, the lifecycle's announcement finds the message and rewrites it."""
        return entry(
            incident.id,
            now,
            "page",
            texts.channel_posted(channel_id, status, why),
            None,
            slack_channel=channel_id,
            generation=incident.generation,
            cycle=incident.cycle,
            level=incident.escalation_level,
            status=status,
            channel="slack",
            ref=ref,
            detail=why,
        )


def _buttons(incident_id: str) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(Button(b.text, b.callback_data) for b in row) for row in page_buttons(incident_id))
