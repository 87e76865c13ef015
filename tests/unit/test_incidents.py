"""Incident rules: the legal moves (exhaustively and as a random walk), titles, MTTA/MTTR, percentiles, keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncall.domain.errors import InvalidInput
from oncall.domain.incidents import (
    MOVES,
    Action,
    IllegalTransition,
    Incident,
    Severity,
    Source,
    Status,
    check_title,
    mtta_seconds,
    mttr_seconds,
    transition,
)
from oncall.domain.services_catalog import (
    ROTATION_OVERLAP,
    Service,
    hashes_match,
    key_hash,
    key_valid,
    looks_like_key,
    new_integration_key,
)
from tests.support.analytics_oracle import percentiles

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def incident(status: Status = Status.TRIGGERED, **kw: object) -> Incident:
    base = {
        "id": "01abc",
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


LEGAL = {
    (Status.TRIGGERED, Action.ACKNOWLEDGE): Status.ACKNOWLEDGED,
    (Status.ACKNOWLEDGED, Action.UNACKNOWLEDGE): Status.TRIGGERED,
    (Status.ACKNOWLEDGED, Action.ACK_TIMEOUT): Status.TRIGGERED,
    (Status.TRIGGERED, Action.RESOLVE): Status.RESOLVED,
    (Status.ACKNOWLEDGED, Action.RESOLVE): Status.RESOLVED,
    (Status.RESOLVED, Action.CLOSE): Status.CLOSED,
    (Status.RESOLVED, Action.AUTO_CLOSE): Status.CLOSED,
    (Status.RESOLVED, Action.REOPEN): Status.TRIGGERED,
}


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", list(Action))
def test_every_status_action_pair_is_legal_exactly_as_designed(status: Status, action: Action) -> None:
    """triggered → acknowledged → resolved → closed, ack → triggered, triggered → resolved, resolved →
    triggered (reopen). Nothing else; closed is final."""
    before = incident(status, task_token="tok")
    expected = LEGAL.get((status, action))
    if expected is None:
        with pytest.raises(IllegalTransition) as err:
            transition(before, action, "u1", T0)
        assert err.value.details["current_status"] == status.value
        assert err.value.code == "illegal_transition"
    else:
        after = transition(before, action, "u1", T0 + timedelta(seconds=5))
        assert after.status is expected
        assert after.version == before.version + 1
        assert after.task_token is None  # the caller answers the waiting token
    assert MOVES == LEGAL


def test_reopen_is_a_new_generation_and_clears_ack_and_resolve() -> None:
    inc = transition(incident(), Action.ACKNOWLEDGE, "u1", T0 + timedelta(seconds=30))
    inc = transition(inc, Action.RESOLVE, "u1", T0 + timedelta(seconds=90))
    again = transition(inc, Action.REOPEN, "u2", T0 + timedelta(seconds=120))
    assert again.generation == 2 and again.execution_name == "01abc-2"
    assert again.acknowledged_at is None and again.resolved_at is None
    assert again.escalation_step == -1 and again.trigger_reason == "reopened"


def test_mtta_is_from_the_first_ack_and_mttr_from_resolve_to_the_second() -> None:
    inc = transition(incident(), Action.ACKNOWLEDGE, "u1", T0 + timedelta(seconds=42, milliseconds=900))
    inc = transition(inc, Action.UNACKNOWLEDGE, "u1", T0 + timedelta(seconds=60))
    assert inc.cycle == 1 and inc.escalation_step == -1
    inc = transition(inc, Action.ACKNOWLEDGE, "u2", T0 + timedelta(seconds=80))
    inc = transition(inc, Action.RESOLVE, "u2", T0 + timedelta(minutes=10, seconds=1))
    assert mtta_seconds(inc) == 42
    assert mttr_seconds(inc) == 601
    assert mtta_seconds(incident()) is None and mttr_seconds(incident()) is None


@given(st.lists(st.sampled_from(list(Action)), max_size=40))
def test_random_walks_only_take_legal_moves_and_versions_grow(actions: list[Action]) -> None:
    inc = incident()
    now = T0
    for action in actions:
        now += timedelta(seconds=1)
        if (inc.status, action) in LEGAL:
            after = transition(inc, action, "u", now)
            assert after.status is LEGAL[(inc.status, action)]
            assert after.version == inc.version + 1
            assert after.generation == inc.generation + (1 if action is Action.REOPEN else 0)
            if after.acknowledged_at is not None:
                assert after.acknowledged_at >= after.created_at
            inc = after
        else:
            with pytest.raises(IllegalTransition):
                transition(inc, action, "u", now)
    if inc.status is Status.CLOSED:
        assert all((Status.CLOSED, a) not in LEGAL for a in Action)


@pytest.mark.parametrize("title", ["test", "TEST", "None", "null", " null. ", "n/a", "tbd"])
def test_placeholder_titles_are_refused(title: str) -> None:
    with pytest.raises(InvalidInput, match="placeholder"):
        check_title(title)


@pytest.mark.parametrize(("title", "ok"), [("abcd", False), ("abcde", True), ("x" * 1000, True), ("x" * 1001, False)])
def test_title_length_bounds(title: str, ok: bool) -> None:
    if ok:
        assert check_title(title) == title
    else:
        with pytest.raises(InvalidInput):
            check_title(title)


def test_titles_are_trimmed_and_whitespace_collapsed() -> None:
    assert check_title("  Disk   full\n on db-1 ") == "Disk full on db-1"


def test_percentiles_nearest_rank() -> None:
    assert percentiles([]).count == 0 and percentiles([]).p50 is None
    p = percentiles([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    assert (p.count, p.mean, p.p50, p.p90) == (10, 55.0, 50.0, 90.0)
    one = percentiles([7])
    assert (one.p50, one.p90) == (7.0, 7.0)


def test_integration_keys_are_32_chars_hashed_and_compared_in_constant_time() -> None:
    keys = {new_integration_key() for _ in range(50)}
    assert len(keys) == 50 and all(looks_like_key(k) for k in keys)
    key = keys.pop()
    assert not looks_like_key(key[:-1]) and not looks_like_key(key.upper())
    assert key_hash(key) != key and len(key_hash(key)) == 64
    assert hashes_match(key_hash(key), key_hash(key)) and not hashes_match(key_hash(key), key_hash(keys.pop()))


def test_previous_key_works_only_within_the_overlap() -> None:
    old, new = new_integration_key(), new_integration_key()
    svc = Service(
        id="s",
        name="n",
        escalation_policy_id="p",
        created_at=T0,
        updated_at=T0,
        key_hash=key_hash(new),
        previous_key_hash=key_hash(old),
        previous_key_expires_at=T0 + ROTATION_OVERLAP,
    )
    assert key_valid(svc, key_hash(new), T0) and key_valid(svc, key_hash(old), T0)
    assert not key_valid(svc, key_hash(old), T0 + ROTATION_OVERLAP)
    assert key_valid(svc, key_hash(new), T0 + ROTATION_OVERLAP * 10)
    assert not key_valid(svc, key_hash(new_integration_key()), T0)


def test_trends_bucket_by_creation_time_with_means() -> None:
    from tests.support.analytics_oracle import trends

    def resolved(created_min: int, ack_s: int, fix_s: int) -> Incident:
        created = T0 + timedelta(minutes=created_min)
        inc = transition(
            incident(created_at=created, updated_at=created),
            Action.ACKNOWLEDGE,
            "u",
            created + timedelta(seconds=ack_s),
        )
        return transition(inc, Action.RESOLVE, "u", created + timedelta(seconds=fix_s))

    items = [
        resolved(5, 10, 100),
        resolved(50, 30, 300),
        resolved(70, 60, 60),
        incident(created_at=T0 + timedelta(minutes=130)),
    ]
    got = trends(items, T0, T0 + timedelta(hours=3), 3600)
    assert [(b["count"], b["mtta_mean_seconds"], b["mttr_mean_seconds"]) for b in got] == [
        (2, 20.0, 200.0),
        (1, 60.0, 60.0),
        (1, None, None),
    ]
    assert got[1]["start"] == "2026-03-02T10:00:00Z"


def test_mttr_distribution_bands_are_half_open() -> None:
    from tests.support.analytics_oracle import mttr_distribution

    def fixed_after(seconds: int) -> Incident:
        return transition(incident(), Action.RESOLVE, "u", T0 + timedelta(seconds=seconds))

    bands = mttr_distribution(
        [fixed_after(s) for s in (0, 299, 300, 899, 900, 3600, 86399, 86400, 10**6)] + [incident()]
    )
    assert [b["count"] for b in bands] == [2, 2, 1, 1, 1, 2]
    assert bands[0] == {"lower_seconds": 0, "upper_seconds": 300, "count": 2}
    assert bands[-1]["upper_seconds"] is None


@pytest.mark.parametrize(("raw", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("7d", 604800), ("2w", 1209600)])
def test_spans(raw: str, seconds: int) -> None:
    from oncall.domain.incidents import parse_span

    assert parse_span(raw, "period", maximum_seconds=10**8) == seconds


@pytest.mark.parametrize("raw", ["", "h", "7", "-1d", "1y", "0h", "1.5h"])
def test_bad_spans_name_the_field(raw: str) -> None:
    from oncall.domain.incidents import parse_span

    with pytest.raises(InvalidInput) as err:
        parse_span(raw, "bucket", maximum_seconds=10**8)
    assert err.value.field == "bucket"
