"""The one rule for names (``oncall.domain.names``) and the override range rule (``shifts.covers``), pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncall.domain.errors import InvalidInput
from oncall.domain.names import BIDI_CONTROLS, check_name
from oncall.domain.shifts import Interval, Shift, covers

T0 = datetime(2031, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["\x00", "\x07", "\x7f", "\x85", "\u2028", "\u2029", "\ud800", *sorted(BIDI_CONTROLS)])
def test_a_name_with_a_forbidden_character_is_refused_by_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_name(f"team{bad}name", "team")
    assert refused.value.field == "team"


@pytest.mark.parametrize(
    "good", ["Platform", "  Platform  ", "Zoë's on-call", "צוות \u200fאופס", "運用チーム", "🚒 crew"]
)
def test_ordinary_names_in_any_script_pass_trimmed(good: str) -> None:
    assert check_name(good) == good.strip()


def test_blank_and_long_names_are_refused() -> None:
    with pytest.raises(InvalidInput):
        check_name("   ")
    assert check_name("  ", blank_ok=True) == ""
    with pytest.raises(InvalidInput):
        check_name("x" * 101)


def shift(start_h: int, end_h: int) -> Shift:
    return Shift(
        id=f"s{start_h}",
        schedule_id="s",
        user_id="u",
        start=T0 + timedelta(hours=start_h),
        end=T0 + timedelta(hours=end_h),
    )


@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(1, 6)), max_size=6),
    st.integers(0, 40),
    st.integers(1, 12),
)
def test_covers_means_every_hour_of_the_window_is_held(pieces: list[tuple[int, int]], start: int, length: int) -> None:
    shifts = [shift(a, a + n) for a, n in pieces]
    held = {h for a, n in pieces for h in range(a, a + n)}
    window = Interval(T0 + timedelta(hours=start), T0 + timedelta(hours=start + length))
    assert covers(shifts, window) == all(h in held for h in range(start, start + length))
