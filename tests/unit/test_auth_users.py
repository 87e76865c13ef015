"""Who may do what to whom, profile validation, password policy and the KDF wrapper: pure rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from oncall.domain.errors import Forbidden, InvalidInput
from oncall.domain.passwords import MAX_LENGTH, MIN_LENGTH, check_password
from oncall.domain.users import (
    Role,
    User,
    apply_patch,
    authorize_delete,
    authorize_link,
    authorize_patch,
    authorize_read,
    check_email,
    check_reminder_offsets,
    check_timezone,
    normalize_username,
    prune_revoked,
)
from oncall.security.passwords import Argon2Hasher

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def user(uid: str, role: Role) -> User:
    return User(id=uid, username=uid, role=role, display_name=uid, created_at=NOW, updated_at=NOW)


ADMIN, RESPONDER, VIEWER = user("a", Role.ADMIN), user("r", Role.RESPONDER), user("v", Role.VIEWER)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Alice", "alice"), ("  bob.smith ", "bob.smith"), ("ＡＬＩＣＥ", "alice"), ("a-1_b", "a-1_b")],
)
def test_usernames_fold_case_and_width(raw, expected):
    assert normalize_username(raw) == expected


@pytest.mark.parametrize("raw", ["ab", "-abc", "al ice", "a" * 65, "alice@example", "", "émile"])
def test_bad_usernames_name_the_field(raw):
    with pytest.raises(InvalidInput) as err:
        normalize_username(raw)
    assert err.value.field == "username"


def test_timezones_must_be_iana_names():
    assert check_timezone("Europe/Berlin") == "Europe/Berlin"
    assert check_timezone("UTC") == "UTC"
    for bad in ("Mars/Olympus", "europe/berlin", "+02:00", "../../etc/passwd", ""):
        with pytest.raises(InvalidInput) as err:
            check_timezone(bad)
        assert err.value.field == "timezone"


def test_reminder_offsets_are_bounded_sorted_and_unique():
    assert check_reminder_offsets([10, 1440, 120, 10]) == (1440, 120, 10)
    for bad in ([0], [-5], [14 * 24 * 60 + 1], list(range(1, 12))):
        with pytest.raises(InvalidInput):
            check_reminder_offsets(bad)


def test_email_is_loosely_checked():
    assert check_email(" ops@example.com ") == "ops@example.com"
    assert check_email(None) is None
    for bad in ("nope", "a@b", "a b@c.d", "@c.d"):
        with pytest.raises(InvalidInput):
            check_email(bad)


def test_password_policy_is_about_length():
    assert check_password("x" * MIN_LENGTH)
    for bad in ("x" * (MIN_LENGTH - 1), "x" * (MAX_LENGTH + 1), "abcdefghijkl\x00"):
        with pytest.raises(InvalidInput):
            check_password(bad)


def test_read_self_or_admin():
    authorize_read(ADMIN, "r")
    authorize_read(RESPONDER, "r")
    with pytest.raises(Forbidden):
        authorize_read(RESPONDER, "a")
    with pytest.raises(Forbidden):
        authorize_read(VIEWER, "r")


def test_nobody_changes_their_own_role():
    for actor in (ADMIN, RESPONDER, VIEWER):
        with pytest.raises(Forbidden):
            authorize_patch(actor, actor.id, {"role"})
    authorize_patch(ADMIN, "r", {"role", "display_name"})


def test_self_service_is_limited_to_profile_fields():
    authorize_patch(VIEWER, "v", {"display_name", "email", "timezone", "reminder_offsets_minutes"})
    with pytest.raises(Forbidden):
        authorize_patch(RESPONDER, "a", {"display_name"})
    with pytest.raises(Forbidden):
        authorize_patch(RESPONDER, "r", set(), resets_password=True)
    with pytest.raises(Forbidden):
        authorize_patch(ADMIN, "a", set(), resets_password=True)
    authorize_patch(ADMIN, "r", set(), resets_password=True)


def test_only_admins_delete_and_never_themselves():
    authorize_delete(ADMIN, "r")
    with pytest.raises(Forbidden):
        authorize_delete(ADMIN, "a")
    with pytest.raises(Forbidden):
        authorize_delete(RESPONDER, "v")


def test_link_codes_for_self_or_by_admin():
    authorize_link(ADMIN, "r")
    authorize_link(VIEWER, "v")
    with pytest.raises(Forbidden):
        authorize_link(RESPONDER, "v")


def test_apply_patch_validates_and_stamps():
    later = NOW + timedelta(minutes=1)
    got = apply_patch(RESPONDER, {"display_name": " R ", "timezone": "Asia/Tokyo", "email": None}, later)
    assert (got.display_name, got.timezone, got.email, got.updated_at) == ("R", "Asia/Tokyo", None, later)
    with pytest.raises(InvalidInput):
        apply_patch(RESPONDER, {"username": "x"}, later)
    assert apply_patch(RESPONDER, {"role": "viewer"}, later).role is Role.VIEWER


def test_revoked_sessions_are_pruned_after_the_access_ttl():
    t = int(NOW.timestamp())
    revoked = {"old": t - 901, "edge": t - 900, "new": t}
    assert prune_revoked(revoked, NOW, 900) == {"edge": t - 900, "new": t}


def test_argon2id_verify_and_rehash_on_parameter_change():
    cheap = Argon2Hasher(time_cost=1, memory_kib=64, parallelism=1)
    encoded = cheap.hash("correct horse battery")
    assert encoded.startswith("$argon2id$")
    assert cheap.verify(encoded, "correct horse battery")
    assert not cheap.verify(encoded, "wrong horse battery")
    assert not cheap.verify("not-a-hash", "x")
    assert not cheap.needs_rehash(encoded)
    stronger = Argon2Hasher(time_cost=2, memory_kib=128, parallelism=1)
    assert stronger.needs_rehash(encoded)
    assert stronger.verify(encoded, "correct horse battery")  # old hashes still verify until rehashed
    assert cheap.dummy_hash() == cheap.dummy_hash()
    assert not cheap.verify(cheap.dummy_hash(), "")


def test_user_repr_hides_secrets():
    u = replace(RESPONDER, password_hash="$argon2id$secret", revoked_sessions={"s": 1})
    assert "argon2" not in repr(u)
