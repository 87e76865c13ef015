"""The pure routing rules: matchers as Alertmanager reads them, time windows across midnight and DST, rule order and
``continue``, urgency, and the order in which a decision is made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from oncall.domain.alerts import Alert, AlertAction, bound_raw
from oncall.domain.errors import InvalidInput
from oncall.domain.incidents import Severity, Source
from oncall.domain.routing import (
    MaintenanceWindow,
    Routing,
    Silence,
    Urgency,
    apply_rules,
    check_hours,
    check_matchers,
    check_rules,
    check_urgency,
    decide,
)

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the night Europe/Berlin springs forward (02:00 → 03:00)
_ids = count()


def new_id() -> str:
    return f"r{next(_ids)}"


def alert(**labels: str) -> Alert:
    return Alert(
        Source.ALERTMANAGER,
        AlertAction.TRIGGER,
        "svc",
        labels.pop("summary", "disk full"),
        Severity(labels.pop("severity", "high")),
        bound_raw({}),
        dedup_key="k",
        group_key="g",
        labels=labels,
    )


def test_matchers_read_as_alertmanager_reads_them() -> None:
    [eq, ne, re_, nre] = check_matchers(
        [
            {"name": "env", "op": "=", "value": "prod"},
            {"name": "team", "op": "!=", "value": "db"},
            {"name": "instance", "op": "=~", "value": "db-[0-9]+"},
            {"name": "instance", "op": "!~", "value": "db-9"},
        ]
    )
    assert eq.holds({"env": "prod"}) and not eq.holds({})
    assert ne.holds({}) and not ne.holds({"team": "db"})  # a missing label is the empty string
    assert re_.holds({"instance": "db-12"}) and not re_.holds({"instance": "db-12-replica"})  # anchored
    assert nre.holds({"instance": "db-1"}) and not nre.holds({"instance": "db-9"})
    with pytest.raises(InvalidInput) as refused:
        check_matchers([{"name": "env", "op": "=~", "value": ".*"}, {"name": "x", "op": "=", "value": ""}])
    assert refused.value.field == "matchers"


def test_hours_run_past_midnight_and_their_next_start_follows_the_zone() -> None:
    night = check_hours({"time_zone": "Europe/Berlin", "days": ["sat"], "from": "22:00", "to": "06:00"}, "t")
    # 00:30 UTC on Sunday 29 March is 01:30 in Berlin: Saturday night's window still holds
    assert night.holds(NOW)
    assert not night.holds(NOW + timedelta(hours=6))
    day = check_hours({"time_zone": "Europe/Berlin", "days": ["mon"], "from": "09:00", "to": "17:00"}, "t")
    # Monday 09:00 in Berlin after the change is 07:00 UTC (CEST), not 08:00
    assert day.next_start(NOW) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    with pytest.raises(InvalidInput) as bad:
        check_hours({"time_zone": "Europe/Berlin", "days": ["funday"], "from": "09:00", "to": "17:00"}, "support_hours")
    assert bad.value.field == "support_hours.days"


def test_rules_apply_in_order_first_match_stops_unless_continue() -> None:
    rules = check_rules(
        [
            {
                "conditions": [{"field": "labels.env", "op": "equals", "value": "staging"}],
                "actions": {"severity": "low"},
                "continue": True,
            },
            {"conditions": [{"field": "severity", "op": "equals", "value": "low"}], "actions": {"urgency": "low"}},
            {"conditions": [], "actions": {"suppress": True}},
        ],
        "svc",
        new_id,
    )
    staged = apply_rules(alert(env="staging"), rules, NOW)
    assert staged.alert.severity is Severity.LOW and staged.urgency is Urgency.LOW and staged.suppressed_by is None
    assert staged.matched == (rules[0].id, rules[1].id)
    other = apply_rules(alert(env="prod"), rules, NOW)
    assert other.suppressed_by == rules[2].id and other.matched == (rules[2].id,)


def test_a_rule_can_take_the_dedup_key_from_a_label_and_route_elsewhere() -> None:
    rules = check_rules(
        [
            {
                "conditions": [{"field": "labels.host", "op": "exists"}],
                "actions": {"dedup_key_from": "labels.host", "route_to": "other"},
            }
        ],
        "svc",
        new_id,
    )
    routed = apply_rules(alert(host="web-3"), rules, NOW).alert
    assert (routed.dedup_key, routed.group_key, routed.service_id) == ("web-3", None, "other")
    with pytest.raises(InvalidInput) as self_route:
        check_rules([{"actions": {"route_to": "svc"}}], "svc", new_id)
    assert self_route.value.field == "rules[0].actions.route_to"


def test_a_decision_takes_rules_then_windows_then_silences_and_urgency_last() -> None:
    window = MaintenanceWindow("w1", NOW - timedelta(hours=1), NOW + timedelta(hours=1), "upgrade", "u", NOW)
    silence = Silence(
        "s1",
        "default",
        check_matchers([{"name": "env", "value": "prod"}]),
        NOW - timedelta(hours=1),
        NOW + timedelta(hours=1),
        "u",
        "noisy",
        NOW,
        NOW,
    )
    plain = Routing("svc", urgency=check_urgency({"mode": "by_severity", "high_severities": ["critical"]}))
    in_window = Routing("svc", windows=(window,))
    assert decide(alert(env="prod"), plain, plain, [silence], NOW).suppressed.kind == "silence"  # type: ignore[union-attr]
    assert decide(alert(env="prod"), in_window, in_window, [silence], NOW).suppressed.kind == "maintenance"  # type: ignore[union-attr]
    free = decide(alert(env="dev"), plain, plain, [silence], NOW)
    assert free.suppressed is None and free.urgency is Urgency.LOW and free.raise_at is None
    assert decide(alert(env="dev"), plain, plain, [silence], NOW + timedelta(hours=2)).suppressed is None
    hours = check_urgency(
        {
            "mode": "support_hours",
            "raise_at_support_hours_start": True,
            "support_hours": {"time_zone": "UTC", "days": ["mon"], "from": "09:00", "to": "17:00"},
        }
    )
    night = decide(alert(), Routing("svc", urgency=hours), Routing("svc", urgency=hours), [], NOW)
    assert night.urgency is Urgency.LOW and night.raise_at == datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
