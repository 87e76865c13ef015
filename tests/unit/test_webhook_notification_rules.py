"""Per-person notification rules: channels per kind, and why nobody can mute their pages (pure rules)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncall.domain.errors import InvalidInput
from oncall.domain.notifications import CAPPED_KINDS, DEFAULT_ROUTES, Kind, Recipient, channels_for, check_rules

BOTH = {"telegram": "42", "slack": "D42", "email": "a@example.org", "sms": "+15550100042/u1"}


def person(rules: dict[Kind, tuple[str, ...]] | None = None, flagged: frozenset[str] = frozenset()) -> Recipient:
    return Recipient("u1", "Ada", "UTC", BOTH, flagged, rules or {})


def test_without_rules_the_default_route_applies() -> None:
    for kind in Kind:
        assert channels_for(kind, person(), ["telegram", "slack", "email", "sms"]) == list(DEFAULT_ROUTES[kind])


def test_a_rule_reorders_narrows_or_mutes_a_kind() -> None:
    rules = check_rules({"reminder": ["email"], "page": ["email", "telegram"], "resolution": []})
    p = person(rules)
    assert channels_for(Kind.REMINDER, p, ["telegram", "email"]) == ["email"]
    assert channels_for(Kind.PAGE, p, ["telegram", "email"]) == ["email", "telegram"]
    assert channels_for(Kind.RESOLUTION, p, ["telegram", "email"]) == []
    assert channels_for(Kind.INFO, p, ["telegram", "email"]) == ["telegram", "email"]


def test_a_page_whose_rule_leaves_nothing_usable_still_goes_out_by_default() -> None:
    p = person({Kind.PAGE: ("email",)}, flagged=frozenset())
    only_telegram = ["telegram"]
    assert channels_for(Kind.PAGE, p, only_telegram) == ["telegram"]
    assert channels_for(Kind.REMINDER, person({Kind.REMINDER: ("email",)}), only_telegram) == []


@given(
    kind=st.sampled_from(list(Kind)),
    rule=st.lists(st.sampled_from(["telegram", "email"]), unique=True),
    registered=st.lists(st.sampled_from(["telegram", "email"]), unique=True),
    flagged=st.frozensets(st.sampled_from(["telegram", "email"])),
)
def test_chosen_channels_are_always_registered_addressed_and_unflagged(
    kind: Kind, rule: list[str], registered: list[str], flagged: frozenset[str]
) -> None:
    if kind in CAPPED_KINDS and not rule:
        return
    p = person({kind: tuple(rule)}, flagged)
    chosen = channels_for(kind, p, registered)
    assert all(c in registered and c not in flagged for c in chosen)
    usable_default = [c for c in DEFAULT_ROUTES[kind] if c in registered and c not in flagged]
    if kind in CAPPED_KINDS:
        assert bool(chosen) == bool(usable_default)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"pager": ["email"]}, "rules.pager"),
        ({"reminder": ["pager"]}, "rules.reminder[0]"),
        ({"page": []}, "rules.page"),
        ({"escalation": []}, "rules.escalation"),
    ],
)
def test_bad_rules_name_the_field(raw: dict[str, list[str]], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_rules(raw)
    assert err.value.field == field
