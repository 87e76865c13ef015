"""Repositories over ``identity_models``: what the user and auth services need, nothing else.

Every multi-item invariant is one ``TransactWriteItems`` with conditions (username uniqueness, refresh rotation, code
consumption), so concurrent Lambdas cannot interleave into a broken state. Reads that decide security (the user item
on each request, a refresh token's state) are strongly consistent.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from oncall.adapters.dynamodb.identity_models import (
    CODE,
    FAMILY,
    GUARD,
    PROFILE,
    TOKEN,
    USER_LIST_PK,
    CounterItem,
    FamilyItem,
    LinkCodeItem,
    RefreshItem,
    UserItem,
    UsernameGuardItem,
    family_pk,
    link_pk,
    refresh_pk,
    user_pk,
    username_pk,
)
from oncall.domain.errors import NotFound
from oncall.domain.tokens import RefreshRecord, RefreshState
from oncall.domain.users import LinkCodeInvalid, Role, User, UsernameTaken, UserStatus


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


@lru_cache(maxsize=4)
def _cached_connection(region: str | None, host: str | None) -> Connection:
    return Connection(region=region, host=host)


def _connection() -> Connection:
    """One connection per process: building a botocore session per transaction cost 0.1-0.3 s on every login."""
    return _cached_connection(UserItem.Meta.region, UserItem.Meta.host)


def _reasons(exc: TransactWriteError) -> list[str | None]:
    return [r.code if r is not None else None for r in exc.cancellation_reasons]


def _to_user(item: UserItem) -> User:
    revoked: dict[str, Any] = item.revoked_sessions.as_dict() if item.revoked_sessions else {}  # type: ignore[no-untyped-call]
    return User(
        id=item.id,
        username=item.username,
        role=Role(item.role),
        status=UserStatus(item.status),
        display_name=item.display_name,
        email=item.email,
        timezone=item.timezone,
        reminder_offsets_minutes=tuple(int(v) for v in (item.reminder_offsets_minutes or [])),
        token_version=int(item.token_version or 0),
        telegram_chat_id=item.telegram_chat_id,
        password_hash=item.password_hash,
        revoked_sessions={str(k): int(v) for k, v in revoked.items()},
        created_at=_dt(item.created_at),
        updated_at=_dt(item.updated_at),
    )


def _to_item(user: User) -> UserItem:
    return UserItem(
        user_pk(user.id),
        PROFILE,
        id=user.id,
        username=user.username,
        list_pk=USER_LIST_PK if user.active else None,
        role=user.role.value,
        status=user.status.value,
        display_name=user.display_name,
        email=user.email,
        timezone=user.timezone,
        reminder_offsets_minutes=list(user.reminder_offsets_minutes),
        token_version=user.token_version,
        telegram_chat_id=user.telegram_chat_id,
        password_hash=user.password_hash,
        revoked_sessions=dict(user.revoked_sessions),
        created_at=_iso(user.created_at),
        updated_at=_iso(user.updated_at),
    )


class DynamoUserStore:
    """Users, username guards and Telegram link codes (table ``users``)."""

    def get(self, user_id: str) -> User | None:
        try:
            return _to_user(UserItem.get(user_pk(user_id), PROFILE, consistent_read=True))
        except DoesNotExist:
            return None

    def id_for_username(self, username: str) -> str | None:
        try:
            return UsernameGuardItem.get(username_pk(username), GUARD, consistent_read=True).user_id
        except DoesNotExist:
            return None

    def create(self, user: User) -> None:
        """User and username guard together, or neither: the guard's condition makes the name unique."""
        try:
            with TransactWrite(connection=_connection()) as tx:
                tx.save(_to_item(user), condition=UserItem.pk.does_not_exist())
                tx.save(
                    UsernameGuardItem(username_pk(user.username), GUARD, user_id=user.id),
                    condition=UsernameGuardItem.pk.does_not_exist(),
                )
        except TransactWriteError as exc:
            if "ConditionalCheckFailed" in _reasons(exc):
                raise UsernameTaken(user.username) from None
            raise

    def update_profile(self, user: User, fields: Iterable[str]) -> None:
        """Write only ``fields`` of an existing, active user: a concurrent change to another field (an admin's
        demotion while the user edits their time zone) is never overwritten with the value this request read."""
        setters: dict[str, Any] = {
            "display_name": lambda: UserItem.display_name.set(user.display_name),
            "timezone": lambda: UserItem.timezone.set(user.timezone),
            "reminder_offsets_minutes": lambda: UserItem.reminder_offsets_minutes.set(
                list(user.reminder_offsets_minutes)
            ),
            "role": lambda: UserItem.role.set(user.role.value),
            "email": lambda: UserItem.email.set(user.email) if user.email is not None else UserItem.email.remove(),
        }
        actions: list[Any] = [setters[name]() for name in sorted(set(fields))]
        actions.append(UserItem.updated_at.set(_iso(user.updated_at)))
        self._update_active(user.id, actions)

    def set_password(self, user_id: str, password_hash: str, now: datetime, *, bump_token_version: bool) -> int:
        """Store a new hash; bumping the token version kills every token minted before. Returns the version."""
        actions: list[Any] = [UserItem.password_hash.set(password_hash), UserItem.updated_at.set(_iso(now))]
        if bump_token_version:
            actions.append(UserItem.token_version.add(1))
        item = self._update_active(user_id, actions)
        return int(item.token_version or 0)

    def rehash(self, user_id: str, old_hash: str, new_hash: str) -> None:
        """Upgrade the stored hash to current KDF parameters, unless the password changed meanwhile."""
        try:
            UserItem(user_pk(user_id), PROFILE).update(
                actions=[UserItem.password_hash.set(new_hash)],
                condition=UserItem.password_hash == old_hash,
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise

    def revoke_session(self, user_id: str, sid: str, revoked_at: int, stale: Iterable[str] = ()) -> None:
        """Record a revoked family on the user item, so the per-request read sees it; prune entries past use."""
        actions: list[Any] = [UserItem.revoked_sessions[sid].set(revoked_at)]
        actions += [UserItem.revoked_sessions[old].remove() for old in stale if old != sid]
        try:
            UserItem(user_pk(user_id), PROFILE).update(actions=actions, condition=UserItem.pk.exists())
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise

    def delete(self, user: User, now: datetime) -> None:
        """Soft delete: the item stays (incidents and shifts still name the id) but cannot log in, drops out of the
        list and the chat index, every token dies, and the username is free again."""
        try:
            with TransactWrite(connection=_connection()) as tx:
                tx.update(
                    UserItem(user_pk(user.id), PROFILE),
                    actions=[
                        UserItem.status.set(UserStatus.DELETED.value),
                        UserItem.list_pk.remove(),
                        UserItem.telegram_chat_id.remove(),
                        UserItem.password_hash.remove(),
                        UserItem.token_version.add(1),
                        UserItem.updated_at.set(_iso(now)),
                    ],
                    condition=UserItem.status == UserStatus.ACTIVE.value,
                )
                tx.delete(
                    UsernameGuardItem(username_pk(user.username), GUARD),
                    condition=UsernameGuardItem.user_id == user.id,
                )
        except TransactWriteError as exc:
            if "ConditionalCheckFailed" in _reasons(exc):
                raise NotFound("user", user.id) from None
            raise

    def page(self, limit: int, cursor: dict[str, Any] | None) -> tuple[list[User], dict[str, Any] | None]:
        result = UserItem.by_username.query(USER_LIST_PK, limit=limit, last_evaluated_key=cursor)
        users = [_to_user(item) for item in result]
        return users, result.last_evaluated_key

    def any_active_admin(self) -> bool:
        for item in UserItem.by_username.query(USER_LIST_PK, filter_condition=UserItem.role == Role.ADMIN.value):
            if item.status == UserStatus.ACTIVE.value:
                return True
        return False

    def put_link_code(self, code_hash: str, user_id: str, expires_at: int) -> None:
        LinkCodeItem(link_pk(code_hash), CODE, user_id=user_id, expires_at=expires_at).save(
            condition=LinkCodeItem.pk.does_not_exist()
        )

    def consume_link_code(self, code_hash: str, chat_id: str, now: datetime) -> User:
        """Single use: the code's conditional update and the user's link commit together or not at all. A chat
        linked to someone else before moves to this user (one chat, one person)."""
        try:
            code = LinkCodeItem.get(link_pk(code_hash), CODE, consistent_read=True)
        except DoesNotExist:
            raise LinkCodeInvalid("link code is unknown, expired or already used") from None
        previous = [item.pk for item in UserItem.by_telegram_chat.query(chat_id) if item.pk != user_pk(code.user_id)]
        try:
            with TransactWrite(connection=_connection()) as tx:
                tx.update(
                    LinkCodeItem(link_pk(code_hash), CODE),
                    actions=[LinkCodeItem.used_at.set(_iso(now)), LinkCodeItem.chat_id.set(chat_id)],
                    condition=(
                        LinkCodeItem.used_at.does_not_exist() & (LinkCodeItem.expires_at > int(now.timestamp()))
                    ),
                )
                tx.update(
                    UserItem(user_pk(code.user_id), PROFILE),
                    actions=[UserItem.telegram_chat_id.set(chat_id), UserItem.updated_at.set(_iso(now))],
                    condition=UserItem.status == UserStatus.ACTIVE.value,
                )
                for pk in previous:
                    tx.update(
                        UserItem(pk, PROFILE),
                        actions=[UserItem.telegram_chat_id.remove()],
                        condition=UserItem.telegram_chat_id == chat_id,
                    )
        except TransactWriteError as exc:
            if "ConditionalCheckFailed" in _reasons(exc):
                raise LinkCodeInvalid("link code is unknown, expired or already used") from None
            raise
        user = self.get(code.user_id)
        if user is None:
            raise LinkCodeInvalid("link code is unknown, expired or already used")
        return user

    def find_by_telegram_chat(self, chat_id: str) -> User | None:
        for item in UserItem.by_telegram_chat.query(chat_id, limit=1):
            return self.get(item.pk.removeprefix("USER#"))
        return None

    def _update_active(self, user_id: str, actions: list[Any]) -> UserItem:
        item = UserItem(user_pk(user_id), PROFILE)
        try:
            item.update(actions=actions, condition=UserItem.status == UserStatus.ACTIVE.value)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise NotFound("user", user_id) from None
            raise
        return item


class DynamoSessionStore:
    """Refresh-token families and tokens (table ``auth``)."""

    def start_family(self, sid: str, user_id: str, first_jti: str, now: datetime, expires_at: int) -> None:
        with TransactWrite(connection=_connection()) as tx:
            tx.save(
                FamilyItem(family_pk(sid), FAMILY, user_id=user_id, created_at=_iso(now), expires_at=expires_at),
                condition=FamilyItem.pk.does_not_exist(),
            )
            tx.save(
                RefreshItem(
                    refresh_pk(first_jti),
                    TOKEN,
                    family_id=sid,
                    user_id=user_id,
                    state=RefreshState.ACTIVE.value,
                    expires_at=expires_at,
                ),
                condition=RefreshItem.pk.does_not_exist(),
            )

    def get_token(self, jti: str) -> RefreshRecord | None:
        try:
            item = RefreshItem.get(refresh_pk(jti), TOKEN, consistent_read=True)
        except DoesNotExist:
            return None
        return RefreshRecord(
            jti=jti,
            family_id=item.family_id,
            user_id=item.user_id,
            state=RefreshState(item.state),
            rotated_at=_dt(item.rotated_at) if item.rotated_at else None,
            successor_jti=item.successor_jti,
            successor_iat=int(item.successor_iat) if item.successor_iat is not None else None,
        )

    def family_revoked(self, sid: str) -> bool:
        try:
            item = FamilyItem.get(family_pk(sid), FAMILY, consistent_read=True)
        except DoesNotExist:
            return True
        return item.revoked_at is not None

    def rotate(self, old: RefreshRecord, new_jti: str, new_iat: int, now: datetime, expires_at: int) -> bool:
        """Retire ``old`` and store its successor in one transaction, on condition that ``old`` is still active and
        its family alive. False when a condition failed: the caller re-reads to learn which (pynamodb reorders
        transaction items by kind, so cancellation reasons cannot be matched to our calls by position)."""
        try:
            with TransactWrite(connection=_connection()) as tx:
                tx.update(
                    RefreshItem(refresh_pk(old.jti), TOKEN),
                    actions=[
                        RefreshItem.state.set(RefreshState.ROTATED.value),
                        RefreshItem.rotated_at.set(_iso(now)),
                        RefreshItem.successor_jti.set(new_jti),
                        RefreshItem.successor_iat.set(new_iat),
                    ],
                    condition=RefreshItem.state == RefreshState.ACTIVE.value,
                )
                tx.save(
                    RefreshItem(
                        refresh_pk(new_jti),
                        TOKEN,
                        family_id=old.family_id,
                        user_id=old.user_id,
                        state=RefreshState.ACTIVE.value,
                        expires_at=expires_at,
                    ),
                    condition=RefreshItem.pk.does_not_exist(),
                )
                tx.condition_check(
                    FamilyItem, family_pk(old.family_id), FAMILY, condition=FamilyItem.revoked_at.does_not_exist()
                )
        except TransactWriteError as exc:
            if "ConditionalCheckFailed" in _reasons(exc):
                return False
            raise
        return True

    def revoke_family(self, sid: str, now: datetime) -> None:
        try:
            FamilyItem(family_pk(sid), FAMILY).update(
                actions=[FamilyItem.revoked_at.set(_iso(now))],
                condition=FamilyItem.pk.exists() & FamilyItem.revoked_at.does_not_exist(),
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise


class DynamoLoginCounters:
    """Fixed-window failed-login counters (table ``auth``), one item per key and window, expiring with it."""

    def counts(self, keys: list[str], window: int) -> dict[str, int]:
        found = dict.fromkeys(keys, 0)
        for item in CounterItem.batch_get([(k, str(window)) for k in keys], consistent_read=True):
            found[item.pk] = int(item.failures or 0)
        return found

    def record_failure(self, keys: list[str], window: int, expires_at: int) -> None:
        for key in keys:
            CounterItem(key, str(window)).update(
                actions=[CounterItem.failures.add(1), CounterItem.expires_at.set(expires_at)]
            )

    def clear(self, key: str, window: int) -> None:
        CounterItem(key, str(window)).delete()
