"""Every sentence OnCall Hub says to a person, in one place so it can be translated. Pure: constants and functions of
their arguments; no I/O, no clock, and no import of ours, so any module may use it.

What lives here: the Telegram bot's replies and button toasts, the incident buttons and what a page becomes once
someone acted on it, the labels the page renderers put around an incident's facts, digest headings, what a mail adds
around a message, the notices the notifier sends to people an incident concerns, shift reminders, calendar feed
entries, and the timeline's words for paging and escalation. Machine parts inside a sentence (ids, statuses, channel
names, commands) stay verbatim; the layout around the words (HTML tags, separators) stays with whoever renders it.

Long because every sentence of every channel (Telegram, Slack, SMS, mail) is here: one file is what a translator
reads, and splitting it by channel would scatter the words a page and its notices share.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

# -- the Telegram bot ----------------------------------------------------------------------------------------------

BOT_HELP = (
    "OnCall Hub bot\n"
    "/start <code> - link this chat to your OnCall Hub account (get a code from POST /users/{id}/telegram-link)\n"
    "/oncall - who is on call now\n"
    "/shifts - your next shifts\n"
    "/stop - unlink this chat (no more pages or reminders here)\n"
    "/help - this message"
)
BOT_NOT_LINKED = (
    "This chat is not linked to an OnCall Hub account yet. Send /start <code> with a code from your profile."
)
BOT_LINK_CODE_REFUSED = (
    "That link code is unknown, expired or already used. Ask OnCall Hub for a new one "
    "(your profile, or POST /users/{id}/telegram-link) and send /start <code> again."
)
BOT_NOBODY_ON_CALL = "Nobody is on call right now (no schedule has a shift at this moment)."
BOT_NO_SHIFTS = "You have no shifts in the coming weeks."
BOT_NOTHING_TO_STOP = "This chat is not linked; nothing to stop."
BUTTON_UNRECOGNISED = "This button is not recognised (it may be from an old message)."
BUTTON_RETIRED = "This button no longer does anything."
BUTTON_CHAT_NOT_LINKED = "This chat is not linked to an OnCall Hub account."


def bot_already_linked(name: str) -> str:
    return f"This chat is linked to {name}.\n\n{BOT_HELP}"


def bot_linked(name: str) -> str:
    return (
        f"Linked: this chat now belongs to {name}. Pages and shift reminders arrive here.\n"
        "Send /shifts for your next shifts, /stop to unlink."
    )


def bot_unlinked(name: str) -> str:
    return f"Unlinked from {name}. No more pages or reminders here; /start <code> links again."


def bot_on_call_now(lines: Iterable[tuple[str, str, datetime]], zone: tzinfo) -> str:
    """``(schedule, person, until)`` per schedule with someone on call, times in the reader's zone."""
    body = "\n".join(f"• {schedule}: {person} until {_bot_time(end, zone)}" for schedule, person, end in lines)
    return f"On call now:\n{body}"


def bot_next_shifts(timezone: str, lines: Iterable[tuple[str, datetime, datetime]], zone: tzinfo) -> str:
    """``(schedule, start, end)`` per shift, times in the reader's zone (named in the heading)."""
    body = "\n".join(
        f"• {schedule}: {_bot_time(start, zone)} → {_bot_time(end, zone)}" for schedule, start, end in lines
    )
    return f"Your next shifts ({timezone}):\n{body}"


def _bot_time(when: datetime, zone: tzinfo) -> str:
    return when.astimezone(zone).strftime("%a %d %b %H:%M")


# -- the Slack app (slash commands, button presses) ----------------------------------------------------------------

SLACK_HELP = (
    "OnCall Hub for Slack\n"
    "/oncall link - link your Slack account to your OnCall Hub account (by your verified email)\n"
    "/oncall - who is on call now (/oncall <name>: on the schedules named like it)\n"
    "/oncall shifts - your next shifts\n"
    "/oncall unlink - no more pages here\n"
    "/incident <title> - open an incident (/incident <service>: <title> when you may open them on several services)"
)
SLACK_NOT_LINKED = (
    "Your Slack account is not linked to OnCall Hub yet. Run /oncall link (your Slack email must be verified and "
    "match the email of your OnCall Hub account)."
)
SLACK_LINK_NO_EMAIL = (
    "Slack does not tell us a verified email for your account, so it cannot be matched to an OnCall Hub account."
)
SLACK_LINK_NO_MATCH = (
    "No active OnCall Hub account has your Slack email (or several have it). Ask an administrator to set your email."
)
SLACK_LINK_TAKEN = "Your OnCall Hub account is linked to another Slack account; /oncall unlink from that one first."
SLACK_NOTHING_TO_UNLINK = "Your Slack account is not linked; nothing to unlink."
SLACK_INCIDENT_NEEDS_TITLE = "Give the incident a title: /incident <title>."
SLACK_INCIDENT_NO_SERVICE = "You may not open incidents on any service."
SLACK_BUTTON_NOT_LINKED = "Your Slack account is not linked to OnCall Hub: run /oncall link first."


def slack_linked(name: str) -> str:
    return f"Linked: pages for {name} now arrive here as direct messages. /oncall unlink stops them."


def slack_unlinked(name: str) -> str:
    return f"Unlinked from {name}. No more pages here; /oncall link links again."


def slack_nobody_on(wanted: str) -> str:
    return f"Nobody is on call right now on a schedule named like {wanted!r} (that you may see)."


def slack_pick_service(names: Iterable[str]) -> str:
    listed = ", ".join(sorted(names))
    return f"Which service? /incident <service>: <title>, with one of: {listed}"


def slack_incident_opened(incident_id: str, title: str, service: str) -> str:
    return f"Opened incident {incident_id} on {service}: {title}. The on-call person is being paged."


# -- SMS ----------------------------------------------------------------------------------------------------------


def sms_code(code: str) -> str:
    return f"OnCall Hub: your code is {code}. It expires in 15 minutes."


SMS_LINK_INVALID = "This link is not valid. Open the incident in OnCall Hub instead."
SMS_LINK_USED = "This link was already used. Open the incident in OnCall Hub to see where it stands."
SMS_LINK_EXPIRED = "This link has expired. Open the incident in OnCall Hub instead."


def sms_confirm(title: str, incident_id: str, who: str) -> str:
    return f"Acknowledge incident {incident_id} ({title}) as {who}?"


def sms_acknowledged(title: str, who: str) -> str:
    return f"Acknowledged by {who}: {title}"


def sms_already(title: str, state: str) -> str:
    return f"Nothing to do: {title} is already {state}."


# -- incident pages: buttons, and what a page says once someone acted on it ----------------------------------------

ACKNOWLEDGE = "Acknowledge"
RESOLVE = "Resolve"
#: who acted when no person did (an automatic resolve, say)
SYSTEM_ACTOR = "OnCall Hub"
INCIDENT_BUTTON_UNRECOGNISED = "This button is not recognised."

Done = Literal["acknowledged", "resolved"]
_DONE: dict[Done, str] = {"acknowledged": "✅ Acknowledged", "resolved": "☑️ Resolved"}


def outcome_text(first_line: str, incident_id: str, done: Done, who: str, at: datetime) -> str:
    """The page rewritten after ``done``: its first line (the page's headline), the incident, who and when."""
    return f"{first_line}\nIncident {incident_id}\n\n{_DONE[done]} by {who} at {_utc_time(at)}"


def outcome_toast(done: Done) -> str:
    return f"{_DONE[done]}."


def outcome_line(done: Done, who: str, at: datetime, title: str) -> str:
    """The line a press adds to a digest (which lists other incidents too, so it names the incident's title)."""
    short = title if len(title) <= 60 else title[:59] + "…"
    return f"{_DONE[done]} by {who} at {_utc_time(at)}: {short}"


def already(state: str) -> str:
    """A press on an incident that is already past what the button does."""
    return f"Already {state}."


def _utc_time(at: datetime) -> str:
    return at.strftime("%H:%M UTC")


# -- a page's labels (the renderers in oncall.domain.page_content lay them out per channel) -------------------------

PAGE_INCIDENT = "Incident"
#: inline, after the incident: "Incident 01j… · status triggered"
PAGE_STATUS_INLINE = "status"
PAGE_STATUS = "Status"
PAGE_SERVICE = "Service"
PAGE_SEVERITY = "Severity"
PAGE_URGENCY = "Urgency"
PAGE_ALERTS = "Alerts"
PAGE_ESCALATION_LEVEL = "Escalation level"
PAGE_RUNBOOK = "Runbook"
PAGE_SOURCE = "Source"
PAGE_DETAILS = "Details"
EXHAUSTED_NOTICE = "Nobody acknowledged after every escalation level; please look."


# -- digests (several queued messages sent as one) -----------------------------------------------------------------


def digest_heading(count: int, *, all_pages: bool) -> str:
    return f"🚨 {count} {'incidents need you' if all_pages else 'notifications'}"


def digest_line(number: int, headline: str) -> str:
    return f"{number}. {headline}"


def digest_button(label: str, number: int) -> str:
    """A listed message's button, numbered so a press says which incident it is for."""
    return f"{label} #{number}"


# -- mail (what a message gets around it when it goes out by email) ------------------------------------------------

#: a mail's subject starts with its kind's prefix (by ``Kind`` value), so mail filters can sort pages from reminders
MAIL_SUBJECT_PREFIX = {
    "page": "[PAGE]",
    "escalation": "[ESCALATION]",
    "reminder": "[Reminder]",
    "resolution": "[Resolved]",
    "info": "[OnCall]",
}
MAIL_SIGNATURE = "OnCall Hub"


def mail_incident(incident_id: str) -> str:
    return f"Incident: {incident_id}"


def mail_actions(labels: Iterable[str]) -> str:
    """A message's buttons, which only Telegram can press, as what the reader can do instead."""
    return "Act on it in Telegram or through the API: " + " / ".join(labels)


# -- notices to the people an incident concerns (the notifier) ----------------------------------------------------


def resolved_notice(title: str, incident_id: str, resolver: str | None) -> str:
    return f"Resolved: {title}\nIncident {incident_id} was resolved" + (f" by {resolver}" if resolver else "") + "."


def assigned_notice(title: str, incident_id: str, severity: str) -> str:
    return f"Assigned to you: {title}\nIncident {incident_id} ({severity}) is now yours."


# -- shift reminders -----------------------------------------------------------------------------------------------

#: the schedule's name when it cannot be read (deleted since the reminder was planned)
REMINDER_SCHEDULE_UNKNOWN = "your schedule"


def reminder(
    *,
    offset_minutes: int,
    schedule_name: str,
    start: datetime,
    end: datetime,
    timezone: str,
    handover_from: str | None,
    late: bool,
    now: datetime,
) -> str:
    """A shift reminder in the person's time zone; a late one says how long is really left and when it was due."""
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    left = start - now
    minutes_left = max(0, int(left.total_seconds() // 60))
    lines = [
        f"⏰ Reminder: your on-call shift on {schedule_name} starts in {_human_offset(offset_minutes)}"
        if not late
        else f"⏰ Reminder (late): your on-call shift on {schedule_name} starts in {minutes_left} minutes",
        f"Start: {_local(start, zone)}",
        f"End:   {_local(end, zone)}",
        f"Handover from: {handover_from}" if handover_from else "Handover from: nobody (no shift right before yours)",
    ]
    if late:
        due = _local(start - timedelta(minutes=offset_minutes), zone)
        lines.append(f"(This {_human_offset(offset_minutes)} reminder is late: it was due at {due}.)")
    return "\n".join(lines)


def _human_offset(minutes: int) -> str:
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return f"{days * 24} hours" if days == 1 else f"{days} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "1 hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minutes"


def _local(when: datetime, zone: ZoneInfo) -> str:
    local = when.astimezone(zone)
    return local.strftime("%a %d %b %Y, %H:%M ") + (local.tzname() or "")


# -- calendar feeds ------------------------------------------------------------------------------------------------


def feed_title(person: str) -> str:
    """A person's own feed."""
    return f"On call: {person}"


def feed_holder(person: str) -> str:
    """An event's summary in a schedule's feed: who is on call."""
    return f"On call: {person}"


def feed_shift(schedule_name: str) -> str:
    """An event's summary in a person's feed: which schedule the shift is on."""
    return f"On call: {schedule_name}"


def feed_schedule(schedule_name: str) -> str:
    """An event's description in a schedule's feed."""
    return f"Schedule {schedule_name}"


# -- the incident timeline: what people and sources did -----------------------------------------------------------

#: an incident move as the timeline words it, by action (``oncall.domain.incidents.Action`` values)
INCIDENT_MOVES = {
    "acknowledge": "Acknowledged",
    "unacknowledge": "Unacknowledged",
    "ack_timeout": "Acknowledgement timed out; re-triggered",
    "resolve": "Resolved",
    "close": "Closed",
    "auto_close": "Closed automatically",
    "reopen": "Reopened",
}


def incident_moved(action: str, by: str | None) -> str:
    """A move, and who made it when someone (a person or an alert source) did."""
    return f"{INCIDENT_MOVES[action]} by {by}" if by else INCIDENT_MOVES[action]


def triggered_by(name: str) -> str:
    return f"Triggered by {name}"


def triggered_by_alert(source: str) -> str:
    return f"Triggered by a {source} alert"


def alert_storm_title(first_title: str) -> str:
    """The incident that collects a service's new alerts over its rate (docs/architecture.md, "How an alert
    flows"); the first such alert's title follows."""
    return f"Alert storm (over this service's new-incident rate): {first_title}"


def field_changed(field: str) -> str:
    return f"{field} changed"


# -- the incident timeline: paging and escalation ------------------------------------------------------------------


def paging_level(level: int) -> str:
    return f"Paging level {level}"


def escalated(level: int, round_no: int) -> str:
    return f"Escalated to level {level}" + (f" (round {round_no})" if round_no > 1 else "")


def exhausted(*, anyone_notified: bool) -> str:
    if anyone_notified:
        return "Escalation policy exhausted; notified everyone on it"
    return "Escalation policy exhausted; nobody on it could be notified"


def nobody_on_call(level: int) -> str:
    return f"Level {level}: nobody on call; escalating at once"


def paged(name: str, level: int | None, status: str, channel: str | None, why: str | None) -> str:
    """One page's outcome: to whom, for which level (none: the policy ran out), how it went and, when it did not
    reach them, why."""
    where = f" (level {level})" if level else " (policy exhausted)"
    how = f" via {channel}" if channel else ""
    reason = f" ({why})" if why else ""
    return f"Paged {name}{where}: {status}{how}{reason}"


def channel_posted(channel: str, status: str, why: str | None) -> str:
    """The incident's message in a team's Slack channel: where, how it went and, when it failed, why (the channel
    is gone or archived, the app was never invited)."""
    reason = f" ({why})" if why else ""
    return f"Posted to Slack channel {channel}: {status}{reason}"


def lifecycle_fallback(error: str, *, to_admins: bool, reached: int | None) -> str:
    """The escalation workflow itself failed (``error``): everyone on the policy, or every admin when the policy could
    not be read, was paged at once (``reached`` of them are reached or on their way); None: the incident no longer
    waits for anyone, so nobody was paged."""
    if reached is None:
        return f"Escalation failed ({error}); the incident no longer waits for anyone, nobody paged"
    who = "every admin (the escalation policy could not be read)" if to_admins else "everyone on the escalation policy"
    return f"Escalation failed ({error}); paged {who} at once, {reached} reached"


def fallback_paged(name: str, status: str, channel: str | None, why: str | None) -> str:
    """One page of the fallback (the escalation workflow failed): to whom, how it went and, when it failed, why."""
    how = f" via {channel}" if channel else ""
    reason = f" ({why})" if why else ""
    return f"Paged {name} (escalation fallback): {status}{how}{reason}"


def nobody_reachable(level: int, reasons: Iterable[tuple[str, str]]) -> str:
    """``reasons``: ``(person's name, why)`` for each page of the level."""
    said = "; ".join(f"{name}: {why}" for name, why in reasons)
    return f"Level {level}: nobody reachable; escalating at once" + (f" ({said})" if said else "")


def raised_to_high() -> str:
    return "Raised to high urgency: support hours started"
