"""Alert routing: when an alert becomes a page. Pure: ``now`` is always passed in.

Four controls decide it, evaluated in this order inside alert intake, before any dedup or correlation write
(docs/architecture.md, "Alert routing"):

1. **Event rules** of the service that received the alert: ordered; each has conditions (all must hold: summary,
   source, severity, dedup key or a label compared by equality, containment or an RE2 regex; optionally a time of
   day and week in a time zone) and actions (set severity or urgency, route to another service, suppress, add a note
   or tags, take the dedup key from a field). The first rule that matches applies and stops, unless it says
   ``continue`` (PagerDuty's event orchestration). Only the receiving service's rules run: a routed alert does not
   run the target's rules, so no set of rules can loop.
2. **Maintenance windows** of the service the alert ends up in: while one is on, the alert is stored as suppressed.
3. **Silences** of that service's team, in Alertmanager's model: label matchers ``=``, ``!=``, ``=~``, ``!~`` with a
   start and an end; every matcher must hold. Regexes are RE2 (Alertmanager's own dialect), anchored like
   Alertmanager's (``^(?:…)$``) and evaluated in linear time: a hostile pattern such as ``(a+)+$`` cannot backtrack.
4. **Urgency**: the service's rule (always high, always low, by severity, or by support hours in a time zone) unless a
   rule set it. High urgency pages through the escalation policy; low notifies the current on-call once, by their
   low-urgency channels, and never escalates (optionally raised to high when support hours start).

Long because the four controls share their parts (matchers, time windows, field access) and the one evaluation that
both real intake and the dry-run endpoint call: kept together, they cannot drift apart.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from oncall.domain.alerts import Alert
from oncall.domain.errors import InvalidInput
from oncall.domain.incidents import Severity
from oncall.domain.schedules import zone

#: bounds on what one service or team may configure: evaluation cost per alert stays small and flat
RULES_MAX = 100
CONDITIONS_MAX = 20
WINDOWS_MAX = 50
SILENCES_MAX = 200
MATCHERS_MAX = 20
#: a pattern's length; RE2 keeps evaluation linear in the value, this keeps compilation small
PATTERN_MAX = 1000
VALUE_MAX = 1024
TEXT_MAX = 500
TAGS_MAX = 20
#: the longest maintenance window or silence (a forgotten one should not hide alerts for years)
LONGEST = timedelta(days=366)
#: how long ended maintenance windows stay listed on their service
ENDED_KEPT = timedelta(days=7)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Urgency(StrEnum):
    HIGH = "high"
    LOW = "low"


class UrgencyMode(StrEnum):
    ALWAYS_HIGH = "always_high"
    ALWAYS_LOW = "always_low"
    BY_SEVERITY = "by_severity"
    SUPPORT_HOURS = "support_hours"


class MatchOp(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


class CondOp(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    MATCHES = "matches"
    NOT_MATCHES = "not_matches"
    EXISTS = "exists"
    NOT_EXISTS = "not_exists"


@functools.cache
def _re2() -> tuple[Any, Any]:
    """RE2 and its options, imported at the first regex: the API's cold start does not pay for it."""
    import re2

    options = re2.Options()
    options.max_mem = 1 << 20  # a pattern needing more than 1 MB of automaton is refused, not evaluated slowly
    return re2, options


@functools.lru_cache(maxsize=2048)
def _compiled(pattern: str) -> Any:
    re2, options = _re2()
    return re2.compile(f"^(?:{pattern})$", options=options)


def check_pattern(pattern: str, where: str) -> str:
    """An RE2 pattern (Alertmanager's dialect) that compiles; otherwise 422 naming ``where``."""
    if not isinstance(pattern, str) or len(pattern) > PATTERN_MAX:
        raise InvalidInput(where, f"must be a regular expression of at most {PATTERN_MAX} characters")
    try:
        _compiled(pattern)
    except _re2()[0].error as exc:
        raise InvalidInput(where, f"not a valid RE2 regular expression: {exc}") from None
    return pattern


def full_match(pattern: str, value: str) -> bool:
    """Anchored, and linear in ``len(value)`` whatever the pattern (RE2 never backtracks)."""
    return _compiled(pattern).search(value) is not None


# -- silences ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Matcher:
    name: str
    op: MatchOp
    value: str

    def holds(self, labels: Mapping[str, str]) -> bool:
        # Alertmanager's rule: a label that is not there matches as the empty string
        actual = labels.get(self.name, "")
        if self.op is MatchOp.EQ:
            return actual == self.value
        if self.op is MatchOp.NE:
            return actual != self.value
        found = full_match(self.value, actual)
        return found if self.op is MatchOp.RE else not found

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "op": self.op.value, "value": self.value}


def check_matchers(raw: object, where: str = "matchers") -> tuple[Matcher, ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MATCHERS_MAX:
        raise InvalidInput(where, f"must be a list of 1 to {MATCHERS_MAX} matchers")
    out: list[Matcher] = []
    for i, m in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(m, dict):
            raise InvalidInput(at, "must be an object with name, op and value")
        name = m.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 128:
            raise InvalidInput(f"{at}.name", "must be a label name of 1 to 128 characters")
        try:
            op = MatchOp(m.get("op", "="))
        except ValueError:
            raise InvalidInput(f"{at}.op", "must be one of =, !=, =~, !~") from None
        value = m.get("value")
        if not isinstance(value, str) or len(value) > VALUE_MAX:
            raise InvalidInput(f"{at}.value", f"must be a string of at most {VALUE_MAX} characters")
        if op in (MatchOp.RE, MatchOp.NRE):
            check_pattern(value, f"{at}.value")
        out.append(Matcher(name.strip(), op, value))
    if all(m.holds({}) for m in out):
        # Alertmanager refuses these too: a silence whose matchers all match an empty label set silences everything
        raise InvalidInput(where, "at least one matcher must not match an empty label value (it would match all)")
    return tuple(out)


@dataclass(frozen=True)
class Silence:
    id: str
    team_id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    updated_at: datetime

    def state(self, now: datetime) -> str:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def silences(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at and all(m.holds(labels) for m in self.matchers)

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "team_id": self.team_id,
            "matchers": [m.to_dict() for m in self.matchers],
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
            "created_by": self.created_by,
            "comment": self.comment,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "state": self.state(now),
        }


def check_period(start: datetime, end: datetime, now: datetime, names: tuple[str, str]) -> tuple[datetime, datetime]:
    """A window ``[start, end)`` given in RFC 3339 with an offset, ending in the future and at most ``LONGEST``."""
    for value, name in ((start, names[0]), (end, names[1])):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInput(name, "must carry a UTC offset (RFC 3339, e.g. 2026-03-01T09:00:00+01:00)")
    s, e = start.astimezone(UTC), end.astimezone(UTC)
    if not s < e:
        raise InvalidInput(names[1], f"must be after {names[0]}")
    if e <= now:
        raise InvalidInput(names[1], "must be in the future")
    if e - s > LONGEST:
        raise InvalidInput(names[1], f"may be at most {LONGEST.days} days after {names[0]}")
    return s, e


def check_text(raw: object, where: str, *, required: bool = False) -> str:
    if raw is None and not required:
        return ""
    if not isinstance(raw, str) or (required and not raw.strip()) or len(raw) > TEXT_MAX:
        need = "a non-empty string" if required else "a string"
        raise InvalidInput(where, f"must be {need} of at most {TEXT_MAX} characters")
    return raw.strip()


# -- maintenance windows -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MaintenanceWindow:
    id: str
    start: datetime
    end: datetime
    reason: str
    created_by: str
    created_at: datetime

    def on(self, now: datetime) -> bool:
        return self.start <= now < self.end

    def state(self, now: datetime) -> str:
        if now < self.start:
            return "scheduled"
        return "in_progress" if now < self.end else "ended"

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "start": iso(self.start),
            "end": iso(self.end),
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "state": self.state(now),
        }


def kept_windows(windows: Sequence[MaintenanceWindow], now: datetime) -> tuple[MaintenanceWindow, ...]:
    """What a service keeps: every window not ended more than ``ENDED_KEPT`` ago, in start order."""
    return tuple(sorted((w for w in windows if w.end > now - ENDED_KEPT), key=lambda w: (w.start, w.id)))


# -- time windows (rule conditions, support hours) -----------------------------------------------------------------
@dataclass(frozen=True)
class Hours:
    """Days of the week and a time of day in a time zone; ``start > end`` runs past midnight into the next day."""

    time_zone: str
    days: tuple[str, ...]
    start: time
    end: time

    def holds(self, now: datetime) -> bool:
        local = now.astimezone(zone(self.time_zone))
        t = local.time().replace(tzinfo=None)
        today = DAYS[local.weekday()]
        if self.start < self.end:
            return today in self.days and self.start <= t < self.end
        yesterday = DAYS[(local.weekday() - 1) % 7]
        return (today in self.days and t >= self.start) or (yesterday in self.days and t < self.end)

    def next_start(self, now: datetime) -> datetime:
        """The next instant these hours begin after ``now`` (a start that does not exist in local time, in a
        spring-forward gap, is taken at the same wall time after the jump, as ``zoneinfo`` does)."""
        tz = zone(self.time_zone)
        local_day: date = now.astimezone(tz).date()
        for offset in range(8):
            d = local_day + timedelta(days=offset)
            if DAYS[d.weekday()] not in self.days:
                continue
            at = datetime.combine(d, self.start, tzinfo=tz).astimezone(UTC)
            if at > now:
                return at
        return now + timedelta(days=7)

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_zone": self.time_zone,
            "days": list(self.days),
            "from": self.start.strftime("%H:%M"),
            "to": self.end.strftime("%H:%M"),
        }


def _clock(raw: object, where: str) -> time:
    if isinstance(raw, str) and len(raw) == 5 and raw[2] == ":":
        try:
            return time(int(raw[:2]), int(raw[3:]))
        except ValueError:
            pass
    if raw == "24:00":
        return time(0, 0)
    raise InvalidInput(where, "must be a time of day HH:MM (00:00 to 23:59)")


def check_hours(raw: object, where: str) -> Hours:
    if not isinstance(raw, dict):
        raise InvalidInput(where, "must be an object with time_zone, days, from and to")
    tz = raw.get("time_zone")
    if not isinstance(tz, str):
        raise InvalidInput(f"{where}.time_zone", "must be an IANA time zone name such as Europe/Berlin")
    zone(tz, f"{where}.time_zone")
    days = raw.get("days", list(DAYS[:5]))
    if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
        raise InvalidInput(f"{where}.days", f"must be a non-empty list of {', '.join(DAYS)}")
    start, end = _clock(raw.get("from"), f"{where}.from"), _clock(raw.get("to"), f"{where}.to")
    if start == end:
        raise InvalidInput(f"{where}.to", "must differ from 'from'")
    return Hours(tz, tuple(d for d in DAYS if d in days), start, end)


# -- event rules ---------------------------------------------------------------------------------------------------
FIELDS = ("summary", "source", "severity", "dedup_key")


def field_value(alert: Alert, name: str) -> str | None:
    """An alert's field by the name rules use: ``summary``, ``source``, ``severity``, ``dedup_key`` or
    ``labels.<name>``; None when it has none."""
    if name.startswith("labels."):
        return alert.labels.get(name[7:])
    if name == "summary":
        return alert.summary
    if name == "source":
        return alert.source.value
    if name == "severity":
        return alert.severity.value
    if name == "dedup_key":
        return alert.dedup_key
    return None


def check_field(raw: object, where: str) -> str:
    if isinstance(raw, str) and (raw in FIELDS or (raw.startswith("labels.") and 7 < len(raw) <= 135)):
        return raw
    raise InvalidInput(where, f"must be one of {', '.join(FIELDS)} or labels.<name>")


@dataclass(frozen=True)
class Condition:
    field: str
    op: CondOp
    value: str = ""

    def holds(self, alert: Alert) -> bool:
        actual = field_value(alert, self.field)
        if self.op is CondOp.EXISTS:
            return actual is not None
        if self.op is CondOp.NOT_EXISTS:
            return actual is None
        text = actual or ""
        if self.op is CondOp.EQUALS:
            return text == self.value
        if self.op is CondOp.NOT_EQUALS:
            return text != self.value
        if self.op is CondOp.CONTAINS:
            return self.value.lower() in text.lower()
        if self.op is CondOp.NOT_CONTAINS:
            return self.value.lower() not in text.lower()
        found = full_match(self.value, text)
        return found if self.op is CondOp.MATCHES else not found

    def to_dict(self) -> dict[str, str]:
        out = {"field": self.field, "op": self.op.value}
        if self.op not in (CondOp.EXISTS, CondOp.NOT_EXISTS):
            out["value"] = self.value
        return out


@dataclass(frozen=True)
class Actions:
    severity: Severity | None = None
    urgency: Urgency | None = None
    route_to: str | None = None
    suppress: bool = False
    note: str | None = None
    tags: tuple[str, ...] = ()
    dedup_key_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.severity:
            out["severity"] = self.severity.value
        if self.urgency:
            out["urgency"] = self.urgency.value
        if self.route_to:
            out["route_to"] = self.route_to
        if self.suppress:
            out["suppress"] = True
        if self.note:
            out["note"] = self.note
        if self.tags:
            out["tags"] = list(self.tags)
        if self.dedup_key_from:
            out["dedup_key_from"] = self.dedup_key_from
        return out


@dataclass(frozen=True)
class EventRule:
    id: str
    name: str
    conditions: tuple[Condition, ...]
    actions: Actions
    hours: Hours | None = None
    #: after this rule applies, evaluate the next ones too (otherwise the first match is the last)
    continue_: bool = False
    disabled: bool = False

    def matches(self, alert: Alert, now: datetime) -> bool:
        if self.disabled:
            return False
        if self.hours is not None and not self.hours.holds(now):
            return False
        return all(c.holds(alert) for c in self.conditions)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "conditions": [c.to_dict() for c in self.conditions],
            "actions": self.actions.to_dict(),
            "continue": self.continue_,
            "disabled": self.disabled,
        }
        if self.hours is not None:
            out["time"] = self.hours.to_dict()
        return out


def _check_conditions(raw: object, where: str) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > CONDITIONS_MAX:
        raise InvalidInput(where, f"must be a list of at most {CONDITIONS_MAX} conditions")
    out: list[Condition] = []
    for j, c in enumerate(raw):
        at = f"{where}[{j}]"
        if not isinstance(c, dict):
            raise InvalidInput(at, "must be an object with field, op and value")
        name = check_field(c.get("field"), f"{at}.field")
        try:
            op = CondOp(c.get("op", "equals"))
        except ValueError:
            raise InvalidInput(f"{at}.op", f"must be one of {', '.join(o.value for o in CondOp)}") from None
        value = c.get("value", "")
        if op in (CondOp.EXISTS, CondOp.NOT_EXISTS):
            value = ""
        elif not isinstance(value, str) or len(value) > VALUE_MAX:
            raise InvalidInput(f"{at}.value", f"must be a string of at most {VALUE_MAX} characters")
        if op in (CondOp.MATCHES, CondOp.NOT_MATCHES):
            check_pattern(value, f"{at}.value")
        if name == "severity" and op in (CondOp.EQUALS, CondOp.NOT_EQUALS) and value not in Severity:
            raise InvalidInput(f"{at}.value", f"must be one of {', '.join(s.value for s in Severity)}")
        out.append(Condition(name, op, value))
    return tuple(out)


def _check_actions(raw: object, where: str, service_id: str) -> Actions:
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput(where, "must be an object with at least one action")
    known = {"severity", "urgency", "route_to", "suppress", "note", "tags", "dedup_key_from"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidInput(f"{where}.{unknown[0]}", f"unknown action; known: {', '.join(sorted(known))}")
    severity = urgency = None
    if raw.get("severity") is not None:
        try:
            severity = Severity(raw["severity"])
        except ValueError:
            raise InvalidInput(f"{where}.severity", f"must be one of {', '.join(s.value for s in Severity)}") from None
    if raw.get("urgency") is not None:
        try:
            urgency = Urgency(raw["urgency"])
        except ValueError:
            raise InvalidInput(f"{where}.urgency", "must be high or low") from None
    route_to = raw.get("route_to")
    if route_to is not None and (not isinstance(route_to, str) or not route_to.strip() or route_to == service_id):
        raise InvalidInput(f"{where}.route_to", "must be the id of another service")
    suppress = raw.get("suppress", False)
    if not isinstance(suppress, bool):
        raise InvalidInput(f"{where}.suppress", "must be true or false")
    note = check_text(raw.get("note"), f"{where}.note") or None
    tags = raw.get("tags", [])
    if not isinstance(tags, list) or len(tags) > TAGS_MAX or any(not isinstance(t, str) or not t.strip() for t in tags):
        raise InvalidInput(f"{where}.tags", f"must be a list of at most {TAGS_MAX} non-empty strings")
    if any(len(t) > 64 for t in tags):
        raise InvalidInput(f"{where}.tags", "a tag has at most 64 characters")
    dedup_from = raw.get("dedup_key_from")
    if dedup_from is not None:
        dedup_from = check_field(dedup_from, f"{where}.dedup_key_from")
    return Actions(
        severity=severity,
        urgency=urgency,
        route_to=route_to.strip() if route_to else None,
        suppress=suppress,
        note=note,
        tags=tuple(dict.fromkeys(t.strip() for t in tags)),
        dedup_key_from=dedup_from,
    )


def check_rules(raw: object, service_id: str, new_id: Any) -> tuple[EventRule, ...]:
    """A service's ordered event rules from a request body, every problem named by field (``rules[2].actions``);
    rules without an ``id`` get a new one, so a client may send back what it read."""
    if not isinstance(raw, list) or len(raw) > RULES_MAX:
        raise InvalidInput("rules", f"must be a list of at most {RULES_MAX} rules")
    out: list[EventRule] = []
    seen: set[str] = set()
    for i, r in enumerate(raw):
        at = f"rules[{i}]"
        if not isinstance(r, dict):
            raise InvalidInput(at, "must be an object with conditions and actions")
        rid = r.get("id") or new_id()
        if not isinstance(rid, str) or len(rid) > 64 or rid in seen:
            raise InvalidInput(f"{at}.id", "must be a unique string of at most 64 characters")
        seen.add(rid)
        name = check_text(r.get("name"), f"{at}.name")
        hours = check_hours(r["time"], f"{at}.time") if r.get("time") is not None else None
        flag = r.get("continue", False)
        disabled = r.get("disabled", False)
        if not isinstance(flag, bool):
            raise InvalidInput(f"{at}.continue", "must be true or false")
        if not isinstance(disabled, bool):
            raise InvalidInput(f"{at}.disabled", "must be true or false")
        out.append(
            EventRule(
                id=rid,
                name=name,
                conditions=_check_conditions(r.get("conditions"), f"{at}.conditions"),
                actions=_check_actions(r.get("actions"), f"{at}.actions", service_id),
                hours=hours,
                continue_=flag,
                disabled=disabled,
            )
        )
    return tuple(out)


# -- urgency -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UrgencyRule:
    mode: UrgencyMode = UrgencyMode.ALWAYS_HIGH
    #: ``by_severity``: the severities that page with high urgency
    high_severities: tuple[Severity, ...] = (Severity.CRITICAL, Severity.HIGH)
    #: ``support_hours``: high inside, low outside
    hours: Hours | None = None
    #: a low-urgency incident still open when support hours start is raised to high (and escalates from there)
    raise_at_start: bool = False

    def of(self, severity: Severity, now: datetime) -> Urgency:
        if self.mode is UrgencyMode.ALWAYS_LOW:
            return Urgency.LOW
        if self.mode is UrgencyMode.BY_SEVERITY:
            return Urgency.HIGH if severity in self.high_severities else Urgency.LOW
        if self.mode is UrgencyMode.SUPPORT_HOURS and self.hours is not None:
            return Urgency.HIGH if self.hours.holds(now) else Urgency.LOW
        return Urgency.HIGH

    def raise_at(self, now: datetime) -> datetime | None:
        """When a low-urgency incident open at ``now`` is raised to high; None: never."""
        if self.mode is UrgencyMode.SUPPORT_HOURS and self.hours is not None and self.raise_at_start:
            return self.hours.next_start(now)
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode.value}
        if self.mode is UrgencyMode.BY_SEVERITY:
            out["high_severities"] = [s.value for s in self.high_severities]
        if self.mode is UrgencyMode.SUPPORT_HOURS and self.hours is not None:
            out["support_hours"] = self.hours.to_dict()
            out["raise_at_support_hours_start"] = self.raise_at_start
        return out


def check_urgency(raw: object) -> UrgencyRule:
    if not isinstance(raw, dict):
        raise InvalidInput("mode", "the body must be an object with a mode")
    try:
        mode = UrgencyMode(str(raw.get("mode")))
    except ValueError:
        raise InvalidInput("mode", f"must be one of {', '.join(m.value for m in UrgencyMode)}") from None
    if mode is UrgencyMode.BY_SEVERITY:
        given = raw.get("high_severities", ["critical", "high"])
        if not isinstance(given, list) or any(s not in Severity for s in given):
            raise InvalidInput("high_severities", f"must be a list of {', '.join(s.value for s in Severity)}")
        return UrgencyRule(mode, high_severities=tuple(Severity(s) for s in given))
    if mode is UrgencyMode.SUPPORT_HOURS:
        hours = check_hours(raw.get("support_hours"), "support_hours")
        lift = raw.get("raise_at_support_hours_start", False)
        if not isinstance(lift, bool):
            raise InvalidInput("raise_at_support_hours_start", "must be true or false")
        return UrgencyRule(mode, hours=hours, raise_at_start=lift)
    return UrgencyRule(mode)


# -- a service's routing, and the decision ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Routing:
    """What one service configures: its event rules, urgency rule and maintenance windows; ``version`` +1 on every
    change (the service item carries it too, so a warm function knows when its copy is stale without a read)."""

    service_id: str
    rules: tuple[EventRule, ...] = ()
    urgency: UrgencyRule = field(default_factory=UrgencyRule)
    windows: tuple[MaintenanceWindow, ...] = ()
    version: int = 0

    def window_on(self, now: datetime) -> MaintenanceWindow | None:
        return next((w for w in self.windows if w.on(now)), None)

    def route_targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.actions.route_to for r in self.rules if r.actions.route_to))


@dataclass(frozen=True)
class Suppression:
    """Why an alert opened nothing: ``kind`` is ``maintenance``, ``silence`` or ``rule``, ``ref`` the window,
    silence or rule id."""

    kind: str
    ref: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.ref, "reason": self.reason}


@dataclass(frozen=True)
class Routed:
    """The event rules applied: the alert as rewritten, which rules matched, and what they asked for."""

    alert: Alert
    matched: tuple[str, ...] = ()
    urgency: Urgency | None = None
    suppressed_by: str | None = None
    notes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


def apply_rules(alert: Alert, rules: Sequence[EventRule], now: datetime) -> Routed:
    """Run ``rules`` in order on ``alert``: each matching rule's actions apply to the alert as the earlier ones left
    it; evaluation stops at the first match unless that rule says ``continue``."""
    current = alert
    matched: list[str] = []
    urgency: Urgency | None = None
    suppressed: str | None = None
    notes: list[str] = []
    tags: dict[str, None] = {}
    for rule in rules:
        if not rule.matches(current, now):
            continue
        matched.append(rule.id)
        act = rule.actions
        if act.severity is not None:
            current = replace(current, severity=act.severity)
        if act.route_to is not None:
            current = replace(current, service_id=act.route_to)
        if act.dedup_key_from is not None:
            key = field_value(current, act.dedup_key_from)
            if key:
                # the field decides which incident the alert feeds: its own group, not the source's
                current = replace(current, dedup_key=key[:255], group_key=None, key_generated=False)
        if act.urgency is not None:
            urgency = act.urgency
        if act.suppress and suppressed is None:
            suppressed = rule.id
        if act.note:
            notes.append(act.note)
        tags.update(dict.fromkeys(act.tags))
        if not rule.continue_:
            break
    return Routed(current, tuple(matched), urgency, suppressed, tuple(notes), tuple(tags))


@dataclass(frozen=True)
class Decision:
    """What routing made of one trigger: the alert to apply (possibly for another service), its urgency, and the
    suppression that keeps it from opening anything (None: it goes on to dedup and correlation)."""

    alert: Alert
    received_by: str
    urgency: Urgency
    matched: tuple[str, ...] = ()
    suppressed: Suppression | None = None
    notes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    #: when a low-urgency incident opened now is raised to high (support hours start); None: never
    raise_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """What is recorded on the alert's timeline line (and on a suppressed alert)."""
        out: dict[str, Any] = {"urgency": self.urgency.value, "rules": list(self.matched)}
        if self.alert.service_id != self.received_by:
            out["routed_from"] = self.received_by
        if self.suppressed is not None:
            out["suppressed"] = self.suppressed.to_dict()
        if self.notes:
            out["notes"] = list(self.notes)
        if self.tags:
            out["tags"] = list(self.tags)
        return out


def decide(
    alert: Alert,
    received: Routing,
    target: Routing,
    silences: Sequence[Silence],
    now: datetime,
    routed: Routed | None = None,
) -> Decision:
    """The whole routing decision for a trigger. ``received`` is the receiving service's routing; ``target`` the
    routing of the service its rules sent the alert to (the same when not routed); ``silences`` those of the target's
    team. Order: rules, then the target's maintenance window, then silences; the first suppression found is the one
    recorded. ``routed``: the rules already applied to ``alert`` (they are not run twice)."""
    routed = routed if routed is not None else apply_rules(alert, received.rules, now)
    final = routed.alert
    suppressed: Suppression | None = None
    if routed.suppressed_by is not None:
        rule = next(r for r in received.rules if r.id == routed.suppressed_by)
        suppressed = Suppression("rule", rule.id, f"event rule {rule.name or rule.id!r} suppresses it")
    if suppressed is None:
        window = target.window_on(now)
        if window is not None:
            suppressed = Suppression("maintenance", window.id, f"maintenance window: {window.reason}")
    if suppressed is None:
        silence = next((s for s in silences if s.silences(final.labels, now)), None)
        if silence is not None:
            suppressed = Suppression("silence", silence.id, f"silenced: {silence.comment}")
    urgency = routed.urgency or target.urgency.of(final.severity, now)
    return Decision(
        alert=final,
        received_by=alert.service_id,
        urgency=urgency,
        matched=routed.matched,
        suppressed=suppressed,
        notes=routed.notes,
        tags=routed.tags,
        raise_at=target.urgency.raise_at(now) if urgency is Urgency.LOW else None,
    )


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")
