"""The lifecycle's decisions (``domain.escalation.plan``) and policy rules, without I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncall.domain.errors import InvalidInput
from oncall.domain.escalation import (
    HOLD_SECONDS,
    Level,
    Next,
    Phase,
    Policy,
    Target,
    TargetType,
    callback_data,
    check_policy,
    plan,
)
from oncall.domain.incidents import Incident, Severity, Source, Status

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def level(timeout: int, *users: str) -> Level:
    return Level(tuple(Target(TargetType.USER, u) for u in users or ("u1",)), timeout)


POLICY = Policy(id="p", name="primary", levels=(level(60, "a"), level(120, "b")), repeat=1, auto_close_seconds=300)


def incident(status: Status = Status.TRIGGERED, **kw: object) -> Incident:
    base: dict[str, object] = {
        "id": "i1",
        "title": "Checkout returns 502",
        "service_id": "svc",
        "severity": Severity.HIGH,
        "source": Source.OPERATOR,
        "status": status,
        "created_at": T0,
        "updated_at": T0,
    }
    base.update(kw)
    return Incident(**base)  # type: ignore[arg-type]


def test_first_plan_pages_level_1_with_its_timeout() -> None:
    p = plan(incident(), POLICY, generation=1, step=0, advance=False, previous_phase="paging")
    assert (p.next, p.step, p.wait_seconds, p.escalate_to) == (Next.PAGE, 0, 60, 0)


def test_a_timeout_advances_through_levels_and_rounds_then_exhausts() -> None:
    inc = incident(escalation_step=0)
    seen = []
    step = 0
    for _ in range(POLICY.steps):
        p = plan(inc, POLICY, generation=1, step=step, advance=True, previous_phase="paging")
        if p.next is not Next.PAGE:
            break
        seen.append((p.step, POLICY.level_of(p.step)[:2], p.wait_seconds))
        inc = replace(inc, escalation_step=p.step)
        step = p.step
    # levels 1,2 then the repeat round: level 1 (round 2), level 2 (round 2)
    assert seen == [(1, (2, 1), 120), (2, (1, 2), 60), (3, (2, 2), 120)]
    final = plan(inc, POLICY, generation=1, step=step, advance=True, previous_phase="paging")
    assert (final.next, final.phase, final.mark_exhausted, final.wait_seconds) == (
        Next.HOLD,
        Phase.EXHAUSTED,
        True,
        HOLD_SECONDS,
    )
    marked = plan(
        replace(inc, exhausted=True), POLICY, generation=1, step=final.step, advance=False, previous_phase="exhausted"
    )
    assert marked.next is Next.HOLD and not marked.mark_exhausted


def test_acknowledged_holds_for_the_ack_timeout_or_a_week() -> None:
    acked = incident(Status.ACKNOWLEDGED, escalation_step=1)
    assert (
        plan(acked, POLICY, generation=1, step=1, advance=False, previous_phase="paging").wait_seconds == HOLD_SECONDS
    )
    timed = replace(POLICY, ack_timeout_seconds=900)
    p = plan(acked, timed, generation=1, step=1, advance=False, previous_phase="paging")
    assert (p.next, p.phase, p.wait_seconds) == (Next.HOLD, Phase.ACKNOWLEDGED, 900)


def test_back_to_triggered_after_an_ack_starts_over_at_level_1() -> None:
    p = plan(incident(escalation_step=-1), POLICY, generation=1, step=3, advance=False, previous_phase="acknowledged")
    assert (p.next, p.step, p.escalate_to) == (Next.PAGE, 0, 0)


def test_resolved_waits_the_auto_close_period_and_closed_or_newer_generation_is_done() -> None:
    p = plan(incident(Status.RESOLVED), POLICY, generation=1, step=0, advance=False, previous_phase="paging")
    assert (p.next, p.wait_seconds) == (Next.CLOSE_WAIT, 300)
    assert (
        plan(incident(Status.CLOSED), POLICY, generation=1, step=0, advance=False, previous_phase=None).next
        is Next.DONE
    )
    newer = incident(generation=2)
    assert plan(newer, POLICY, generation=1, step=0, advance=False, previous_phase=None).next is Next.DONE
    assert plan(None, POLICY, generation=1, step=0, advance=False, previous_phase=None).next is Next.DONE


@given(st.integers(min_value=-1, max_value=12), st.integers(min_value=0, max_value=12), st.booleans())
def test_a_plan_never_goes_back_behind_the_stored_step(stored: int, step: int, advance: bool) -> None:
    """Retried tasks and racing plans: the stored step is the floor, so nobody is paged twice for one step."""
    p = plan(
        incident(escalation_step=stored), POLICY, generation=1, step=step, advance=advance, previous_phase="paging"
    )
    assert p.step >= max(stored, 0)
    if p.next is Next.PAGE:
        assert p.step < POLICY.steps and p.wait_seconds == POLICY.level_of(p.step)[2].timeout_seconds


@pytest.mark.parametrize(
    ("levels", "repeat", "field"),
    [
        ([], 0, "levels"),
        ([Level((), 30)], 0, "levels[0].targets"),
        ([level(0)], 0, "levels[0].timeout_seconds"),
        ([level(30)], 10, "repeat"),
    ],
)
def test_policy_validation_names_the_field(levels: list[Level], repeat: int, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_policy("p", levels, repeat, None, 3600)
    assert err.value.field == field


def test_callback_data_fits_telegram_64_bytes() -> None:
    assert callback_data("ack", "01kabcdefghjkmnpqrstvwxyz0") == "inc:ack:01kabcdefghjkmnpqrstvwxyz0"
    with pytest.raises(ValueError, match="64 bytes"):
        callback_data("ack", "x" * 60)


def test_everyone_lists_each_target_once_in_order() -> None:
    policy = Policy(id="p", name="n", levels=(level(5, "a", "b"), level(5, "b", "c")))
    assert [t.id for t in policy.everyone()] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("action", "ident"),
    [("del", "01abc"), ("ack", ""), ("ack", "../../etc"), ("ack", "x" * 41), ("res", "01abc;drop"), ("ACK", "01abc")],
)
def test_untrusted_callback_data_is_refused_before_anything_is_read(action: str, ident: str) -> None:
    from oncall.domain.users import Role, User
    from oncall.services.incident_buttons import IncidentButtons

    class Untouchable:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"the incident service was used ({name}) for refused callback data")

    user = User(id="u1", username="ada", role=Role.RESPONDER, display_name="Ada", created_at=T0, updated_at=T0)
    outcome = IncidentButtons(Untouchable())(user, action, ident, T0)  # type: ignore[arg-type]
    assert outcome.toast == "This button is not recognised." and outcome.new_text is None


def test_outcome_text_names_who_and_when() -> None:
    from oncall.services.incident_pages import after_ack_buttons, outcome_text

    text = outcome_text(
        "Checkout returns 502", "01abc", "acknowledged", "Alice", datetime(2026, 3, 2, 12, 3, tzinfo=UTC)
    )
    assert text.endswith("✅ Acknowledged by Alice at 12:03 UTC") and "Incident 01abc" in text
    assert [b.callback_data for row in after_ack_buttons("01abc") for b in row] == ["inc:res:01abc"]
