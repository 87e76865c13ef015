"""The cost bench keeps measuring: a small storm mix through the real handlers on the emulator is counted end to end
(an incident opened, paged, resolved by its source and closed by its lifecycle) and priced line by line. Nothing here
pins a figure: the bench must follow the product as it changes."""

from __future__ import annotations

import pytest

from bench import cost
from infra.topology import TOPOLOGY

ALERTS = 40


@pytest.fixture(scope="module")
def measured() -> cost.Measured:
    return cost.measure(ALERTS, services=2)


def test_the_mix_is_counted_from_what_the_product_did(measured: cost.Measured) -> None:
    u = measured.usage
    assert u.alerts == ALERTS
    assert u.incidents == round(ALERTS * cost.NEW_SHARE) == 1
    # every alert answered 2xx; each new incident's lifecycle ran and was counted from its history
    assert measured.statuses and all(key.split()[1].startswith("2") for key in measured.statuses)
    assert measured.transitions_each and all(n > 0 for n in measured.transitions_each)
    assert u.transitions == sum(measured.transitions_each)
    assert u.api_requests == ALERTS and u.lambda_requests["api"] == ALERTS
    # the lifecycle ran its tasks and the incident's events reached the bus and the notifier queue
    assert u.lambda_requests["escalation"] > 0 and u.bus_events > 0 and u.sqs_messages > 0
    assert u.wru > 0 and u.rru > 0 and u.gb_s > 0
    assert u.lambda_log_bytes > 0 and u.access_log_bytes > 0 and u.workflow_log_bytes > 0
    assert set(measured.scheduled) == {s.name for s in TOPOLOGY.schedules}


def test_prices_add_up_line_by_line(measured: cost.Measured) -> None:
    lines = cost.per_alert(measured.usage)
    assert all(usd >= 0 for usd in lines.items.values())
    assert lines.total == pytest.approx(sum(lines.items.values()))
    assert lines.items["Step Functions transitions"] == pytest.approx(
        measured.usage.transitions * cost.SFN_PER_TRANSITION / ALERTS
    )
    bills = [cost.monthly(org, measured) for org in cost.ORGANISATIONS]
    # the same lines for every organisation, and more alerts and people never cost less
    assert len({tuple(b.items) for b in bills}) == 1
    assert bills[0].total < bills[1].total < bills[2].total < bills[3].total
    # an idle deployment pays only what it costs to have: no alert, no person
    assert not any(usd for line, usd in bills[0].items.items() if line.startswith(("alerts:", "people:")))
    # the dashboard, its metrics and the alarm on every function are what the full deployment adds, and only that
    full = [cost.monthly(org, measured, full=True) for org in cost.ORGANISATIONS]
    for lean, rich in zip(bills, full, strict=True):
        added = {line for line in lean.items if rich.items[line] != pytest.approx(lean.items[line])}
        assert added == {
            "CloudWatch alarms",
            "CloudWatch EMF metrics",
            "CloudWatch dashboard (free for an account's first 3)",
        }
        assert (
            lean.items["CloudWatch EMF metrics"] == 0
            and lean.items["CloudWatch dashboard (free for an account's first 3)"] == 0
        )
    assert cost.alarm_count(full=False) < cost.alarm_count(full=True)


def test_xray_follows_lambdas_fixed_sampling() -> None:
    month = cost.SECONDS_PER_MONTH
    # under one request a second, every request is the first of its second
    assert cost.traces_per_month(month / 2) == month / 2
    # far above, the first of each second and 5 % of the rest
    busy = 1000 * month
    assert cost.traces_per_month(busy) == pytest.approx(month * (1 + 0.05 * 999))
