"""iCalendar output read back by an independent RFC 5545 parser (``icalendar``), plus the octet rules of §3.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
from hypothesis import given
from hypothesis import strategies as st

from oncall.domain.ical import Event, fold, render

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_feed_parses_back_with_utc_times_and_required_properties() -> None:
    events = [
        Event(uid="s1@oncall", start=NOW, end=NOW + timedelta(hours=8), summary="On call: Ann, primary; backup"),
        Event(uid="s2@oncall", start=NOW + timedelta(hours=8), end=NOW + timedelta(days=1), summary="Bob", sequence=3),
    ]
    text = render("Platform, EU", events, now=NOW, timezone="Europe/Berlin")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    cal = icalendar.Calendar.from_ical(text)
    assert str(cal["VERSION"]) == "2.0" and cal["PRODID"]
    # the parser leaves X- properties unparsed, so it shows our TEXT escaping verbatim
    assert str(cal["X-WR-CALNAME"]) == "Platform\\, EU"
    parsed = list(cal.walk("VEVENT"))
    assert [str(e["UID"]) for e in parsed] == ["s1@oncall", "s2@oncall"]
    assert str(parsed[0]["SUMMARY"]) == "On call: Ann, primary; backup"
    assert parsed[0].decoded("DTSTART") == NOW and parsed[0].decoded("DTSTART").tzinfo is not None
    assert parsed[1].decoded("DTEND") == NOW + timedelta(days=1)
    assert parsed[1].decoded("DTSTAMP") == NOW
    assert int(parsed[1]["SEQUENCE"]) == 3
    assert "DTSTART:20260301T120000Z" in unfold(text)


def test_long_multibyte_lines_are_folded_at_75_octets_without_splitting_characters() -> None:
    summary = "Ünïcødé 😀 " * 30
    text = render("x", [Event(uid="u", start=NOW, end=NOW + timedelta(hours=1), summary=summary)], now=NOW)
    for line in text.split("\r\n"):
        assert len(line.encode("utf-8")) <= 75
    assert str(next(iter(icalendar.Calendar.from_ical(text).walk("VEVENT")))["SUMMARY"]) == summary


@given(st.text(min_size=0, max_size=400))
def test_any_summary_survives_escaping_and_folding(summary: str) -> None:
    text = render("feed", [Event(uid="u1", start=NOW, end=NOW + timedelta(hours=1), summary=summary)], now=NOW)
    for line in text.split("\r\n"):
        assert len(line.encode("utf-8")) <= 75
    got = str(next(iter(icalendar.Calendar.from_ical(text).walk("VEVENT")))["SUMMARY"])
    # RFC 5545 TEXT cannot carry a bare CR; line breaks of any kind come back as LF
    assert got == summary.replace("\r\n", "\n").replace("\r", "\n")


@given(st.text(min_size=0, max_size=300))
def test_fold_keeps_content_and_octet_limit(line: str) -> None:
    folded = fold(line)
    parts = folded.split("\r\n ")
    assert "".join(parts) == line
    assert all(len(p.encode("utf-8")) <= (75 if i == 0 else 74) for i, p in enumerate(parts))
