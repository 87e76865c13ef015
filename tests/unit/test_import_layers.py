"""PagerDuty schedule layers → our rotations (``infra.migrate.pagerduty.layers_to_rotations``), and the REST
client's handling of a source that keeps failing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from infra.migrate.model import SourceError
from infra.migrate.pagerduty import Layer, api_reader, layers_to_rotations, period_of
from oncall.domain import rotations as rot
from oncall.domain.shifts import Interval
from tests.support.fake_pagerduty import TOKEN, FakePagerDuty

NOW = datetime(2027, 3, 22, 6, 30, tzinfo=UTC)
DAY = 86400


def layer(id_: str, start: datetime, turn: int, users: tuple[str, ...], **kw: object) -> Layer:
    return Layer(
        id=id_,
        name=id_,
        start=start,
        end=kw.get("end"),  # type: ignore[arg-type]
        virtual_start=kw.get("virtual_start", start),  # type: ignore[arg-type]
        turn_seconds=turn,
        users=users,
        restrictions=tuple(kw.get("restrictions", ())),  # type: ignore[arg-type]
    )


def held(r: object, at: datetime) -> str:
    rotation = rot.Rotation(
        id="r",
        schedule_id="s",
        participants=r.participants,  # type: ignore[attr-defined]
        start=r.start,  # type: ignore[attr-defined]
        timezone=r.timezone,  # type: ignore[attr-defined]
        period=r.period,  # type: ignore[attr-defined]
        hours=r.hours,  # type: ignore[attr-defined]
    )
    return rot.slots(rotation, Interval(at, at + timedelta(seconds=1)))[0].user_id


def test_turn_lengths_map_to_our_periods_or_are_refused() -> None:
    assert period_of(DAY) == ("daily", None)
    assert period_of(7 * DAY) == ("weekly", None)
    assert period_of(8 * 3600) == ("hours", 8)
    assert period_of(2 * DAY) == ("hours", 48)
    assert period_of(90 * 60) is None  # not whole hours
    assert period_of(15 * DAY) is None  # longer than a shift may last


def test_a_layer_started_long_ago_keeps_its_order_from_the_virtual_start() -> None:
    vs = datetime(2026, 1, 1, 7, 0, tzinfo=UTC)
    rotations, notes = layers_to_rotations("S", "Europe/Berlin", [layer("L", vs, DAY, ("a", "b", "c"))], NOW)
    assert notes == []
    [r] = rotations
    # day n since the virtual start (08:00 Berlin) is held by users[n % 3], on the wall clock across DST
    for days in (0, 5, 10):
        at = datetime(2027, 3, 22, 12, tzinfo=UTC) + timedelta(days=days)
        n = (at.astimezone(ZoneInfo("Europe/Berlin")).date() - date(2026, 1, 1)).days % 3
        assert held(r, at) == ("a", "b", "c")[n]


def test_a_higher_open_layer_hides_the_ones_below_and_restrictions_are_reported() -> None:
    past = datetime(2026, 6, 1, tzinfo=UTC)
    business = {"type": "daily_restriction", "start_time_of_day": "09:00:00", "duration_seconds": 9 * 3600}
    layers = [
        layer("top-restricted", past, 7 * DAY, ("x",), restrictions=[business]),
        layer("middle", past, 7 * DAY, ("a", "b")),
        layer("bottom", past - timedelta(days=30), DAY, ("c",)),
    ]
    rotations, notes = layers_to_rotations("S", "UTC", layers, NOW)
    assert [r.id for r in rotations] == ["S/middle"]
    assert any("daily from 09:00 for 9 h cannot be expressed" in n for n in notes)
    assert any("'bottom': hidden by higher layers" in n for n in notes)


def test_a_layer_below_one_that_ends_takes_over_at_its_end() -> None:
    end = datetime(2027, 3, 29, 6, tzinfo=UTC)
    layers = [
        layer("top", datetime(2026, 9, 1, 6, tzinfo=UTC), 12 * 3600, ("a", "b"), end=end),
        layer("bottom", datetime(2026, 1, 1, 6, tzinfo=UTC), DAY, ("c", "d")),
    ]
    rotations, notes = layers_to_rotations("S", "UTC", layers, NOW)
    assert notes == []
    top, bottom = rotations
    assert top.end == end
    assert bottom.start == end and bottom.end is None


def test_a_future_layer_starting_mid_turn_begins_at_the_next_handoff_and_says_so() -> None:
    vs = datetime(2027, 1, 4, 9, tzinfo=UTC)
    start = datetime(2027, 4, 7, 12, tzinfo=UTC)  # a Wednesday, mid-week
    rotations, notes = layers_to_rotations("S", "UTC", [layer("L", start, 7 * DAY, ("a", "b"), virtual_start=vs)], NOW)
    [r] = rotations
    assert r.start == datetime(2027, 4, 12, 9, tzinfo=UTC)
    assert r.participants == ("a", "b")  # 14 weeks after the virtual start: a's turn again
    assert any("part turn" in n for n in notes)


def test_a_turn_we_cannot_express_is_reported_not_approximated() -> None:
    rotations, notes = layers_to_rotations("S", "UTC", [layer("L", NOW, 90 * 60, ("a",))], NOW)
    assert rotations == []
    assert any("5400 s" in n for n in notes)
    rotations, notes = layers_to_rotations("S", "Europe/London", [layer("L", NOW, 2 * DAY, ("a",))], NOW)
    assert rotations[0].hours == 48
    assert any("DST" in n for n in notes)


def test_a_source_that_keeps_failing_is_a_clear_error_after_the_retries() -> None:
    waits: list[float] = []
    with FakePagerDuty() as pd:
        for _ in range(6):
            pd.fail("/users", 502)
        client = api_reader(TOKEN, pd.url, sleep=waits.append)
        with pytest.raises(SourceError, match=r"GET .*/users failed 6 times \(last: 502 server error\)"):
            client.offset_pages("/users", "users")
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_an_answer_cut_short_every_time_is_named_as_such() -> None:
    with FakePagerDuty() as pd:
        for _ in range(6):
            pd.fail("/teams", 200, body=b'{"teams": [{"id": "PT0')
        client = api_reader(TOKEN, pd.url, sleep=lambda s: None)
        with pytest.raises(SourceError, match="incomplete or invalid JSON"):
            client.offset_pages("/teams", "teams")


def test_the_base_url_must_be_absolute() -> None:
    with pytest.raises(SourceError, match="absolute http"):
        api_reader(TOKEN, "api.eu.pagerduty.com")


@pytest.mark.parametrize(
    ("source", "variable", "base"),
    [
        ("pagerduty", "PAGERDUTY_TOKEN", "https://api.eu.pagerduty.com"),
        ("opsgenie", "OPSGENIE_API_KEY", "https://api.eu.opsgenie.com"),
    ],
)
def test_eu_accounts_are_read_from_the_eu_region(
    monkeypatch: pytest.MonkeyPatch, source: str, variable: str, base: str
) -> None:
    from infra.migrate import cli

    monkeypatch.setenv(variable, "a-token")
    reader = cli.source_for(cli.parser().parse_args([source, "--eu"])).reader
    assert reader.base_url == base
    monkeypatch.delenv(variable)
    with pytest.raises(SourceError, match=f"set {variable}"):
        cli.source_for(cli.parser().parse_args([source]))
