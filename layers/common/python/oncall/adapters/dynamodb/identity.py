"""Identity's user store: the ``users`` table (declared in ``infra/topology.py``); sessions and login counters are
``auth``'s (``oncall.adapters.dynamodb.auth``).

``users`` (pk, sk), single-table:

====================  ==========  =========================================================================
pk                    sk          item / access pattern
====================  ==========  =========================================================================
``USER#<id>``         ``PROFILE`` the user. GetItem by id: the ONE read per authenticated request (status,
                                  role, token_version, revoked_sessions all live here).
``USERNAME#<name>``   ``GUARD``   uniqueness guard: written with the user in one transaction on
                                  ``attribute_not_exists(pk)``, so two concurrent creates cannot both win.
                                  Login resolves username → id with one GetItem here.
``LINK#<sha256>``     ``CODE``    one-time Telegram link code (only its hash is stored), TTL ``expires_at``;
                                  consumed by a conditional update (``used_at`` absent, not expired).
``ADMINS``            ``GUARD``   the "at least one active admin" guard: ``version`` is bumped, on
                                  ``version = :read``, by every write that may take an admin away (a role
                                  change away from admin, a deletion), in the same transaction. Such a write
                                  first confirms another active admin by consistent reads, so two admins
                                  demoting each other at once cannot both win (docs/architecture.md,
                                  "Invariants").
====================  ==========  =========================================================================

GSI ``by-username`` (``list_pk`` = ``USER``, ``username``): list users in name order with a cursor; sparse, a
deleted user drops out. GSI ``by-telegram-chat`` (``telegram_chat_id``, keys only): the bot's "who is this chat";
sparse.

A user item always carries ``reminder_offsets_minutes`` (a list of numbers, possibly empty), ``token_version`` and
``revoked_sessions`` (a map, possibly empty) and ``teams`` (team id → team role, a copy of the team's member records
kept in the same transaction by ``oncall.adapters.dynamodb.teams``); optional fields are absent rather than null.

Every multi-item invariant is one ``TransactWriteItems`` with conditions (username uniqueness, code consumption, the
admin guard), so concurrent Lambdas cannot interleave into a broken state. The user item, read on each request, is
read strongly consistently.

Long because the user store keeps every identity invariant in one place: the username guard, link codes, and the admin
guard with its confirm-and-retry loop belong next to the writes they protect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import Attr, Item, n, s, text
from oncall.domain.errors import ConcurrentUpdate, InvalidInput, NotFound
from oncall.domain.teams import DEFAULT_TEAM_ID, DEFAULT_TEAM_ROLE
from oncall.domain.users import LastAdmin, LinkCodeInvalid, Role, User, UserKind, UsernameTaken, UserStatus

USERS_BY_NAME = "by-username"
USERS_BY_TELEGRAM_CHAT = "by-telegram-chat"
USER_LIST_PK = "USER"
PROFILE = "PROFILE"
GUARD = "GUARD"
CODE = "CODE"
ADMINS_PK = "ADMINS"
#: rounds of "read the admin guard, confirm another admin, write" before giving up with ConcurrentUpdate
ADMIN_GUARD_ATTEMPTS = 8
_LINK_INVALID = "link code is unknown, expired or already used"


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def username_pk(username: str) -> str:
    return f"USERNAME#{username}"


def link_pk(code_hash: str) -> str:
    return f"LINK#{code_hash}"


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def user_item(user: User) -> Item:
    item: Item = {
        **kit.key(user_pk(user.id), PROFILE),
        "id": s(user.id),
        "username": s(user.username),
        "role": s(user.role.value),
        "status": s(user.status.value),
        "display_name": s(user.display_name),
        "timezone": s(user.timezone),
        "reminder_offsets_minutes": kit.numbers(user.reminder_offsets_minutes),
        "token_version": n(user.token_version),
        "revoked_sessions": {"M": {sid: n(at) for sid, at in user.revoked_sessions.items()}},
        "teams": {"M": {team: s(role) for team, role in user.teams.items()}},
        "created_at": s(_iso(user.created_at)),
        "updated_at": s(_iso(user.updated_at)),
    }
    if user.kind is not UserKind.PERSON:
        item["kind"] = s(user.kind.value)
    if user.status is not UserStatus.DELETED:
        item["list_pk"] = s(USER_LIST_PK)
    for name in ("email", "telegram_chat_id", "password_hash", "external_subject"):
        value = getattr(user, name)
        if value is not None:
            item[name] = s(value)
    return item


def _teams_of(item: Mapping[str, Attr]) -> dict[str, str]:
    """The user's teams; a user stored before teams is in the default team with the powers of their role (what the
    teams migration then writes down, so both read the same)."""
    if "teams" not in item:
        return {DEFAULT_TEAM_ID: DEFAULT_TEAM_ROLE[Role(item["role"]["S"])].value}
    return {str(team): str(role["S"]) for team, role in item["teams"]["M"].items()}


def user_of(item: Mapping[str, Attr]) -> User:
    revoked = item.get("revoked_sessions", {}).get("M", {})
    return User(
        id=item["id"]["S"],
        username=item["username"]["S"],
        role=Role(item["role"]["S"]),
        status=UserStatus(item["status"]["S"]),
        display_name=item["display_name"]["S"],
        email=text(item, "email"),
        timezone=item["timezone"]["S"],
        reminder_offsets_minutes=tuple(int(v["N"]) for v in item.get("reminder_offsets_minutes", {}).get("L", [])),
        token_version=kit.number(item, "token_version", 0) or 0,
        api_token_epoch=kit.number(item, "api_token_epoch", 0) or 0,
        telegram_chat_id=text(item, "telegram_chat_id"),
        password_hash=text(item, "password_hash"),
        revoked_sessions={str(sid): int(at["N"]) for sid, at in revoked.items()},
        teams=_teams_of(item),
        kind=UserKind(text(item, "kind") or UserKind.PERSON.value),
        external_subject=text(item, "external_subject"),
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        updated_at=datetime.fromisoformat(item["updated_at"]["S"]),
    )


def listed_users(client: Any, table: str, where: tuple[str, str] | None = None) -> list[User]:
    """People on the user list (not deleted), those whose attribute ``where[0]`` is ``where[1]`` when given. The list
    index names candidates (it may lag); each is read from its stored item, which is the truth. For the rare reads
    over everyone (service accounts, a first single sign-on): people number in the hundreds."""
    request: dict[str, Any] = {
        "TableName": table,
        "IndexName": USERS_BY_NAME,
        "KeyConditionExpression": "list_pk = :pk",
        "ExpressionAttributeValues": {":pk": s(USER_LIST_PK)},
    }
    if where is not None:
        request["FilterExpression"] = "#attr = :value"
        request["ExpressionAttributeNames"] = {"#attr": where[0]}
        request["ExpressionAttributeValues"][":value"] = s(where[1])
    ids = [text(item, "id") for item in kit.query_all(client, **request)]
    found = kit.batch_get(client, table, [kit.key(user_pk(i), PROFILE) for i in ids if i])
    return [user_of(item) for item in found]


class DynamoUserStore:
    """Users, username guards and Telegram link codes (table ``users``). Implements
    ``oncall.services.identity_ports.UserStore``."""

    def __init__(self, table: str, client: Any = None, *, catalog_table: str | None = None) -> None:
        self.table = table
        self.catalog_table = catalog_table
        self.client = client if client is not None else kit.client()

    def _get(self, pk: str, sk: str) -> Item | None:
        item: Item | None = self.client.get_item(TableName=self.table, Key=kit.key(pk, sk), ConsistentRead=True).get(
            "Item"
        )
        return item

    def get(self, user_id: str) -> User | None:
        item = self._get(user_pk(user_id), PROFILE)
        return user_of(item) if item else None

    def id_for_username(self, username: str) -> str | None:
        item = self._get(username_pk(username), GUARD)
        return text(item, "user_id") if item else None

    def create(self, user: User) -> None:
        """User, username guard and the user's team member records together, or none: the guard's condition makes
        the name unique, each team's condition that it exists."""
        from oncall.adapters.dynamodb.team_items import member_item, usable_team

        guard = {**kit.key(username_pk(user.username), GUARD), "user_id": s(user.id)}
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table, "Item": user_item(user), **kit.if_absent()}},
            {"Put": {"TableName": self.table, "Item": guard, **kit.if_absent()}},
        ]
        if user.teams and self.catalog_table is None:
            raise RuntimeError("a user with teams needs the catalog table, where team members are kept")
        for team_id, role in sorted(user.teams.items()):
            assert self.catalog_table is not None
            member = member_item(team_id, user.id, role, user.created_at)
            items += [
                usable_team(self.catalog_table, team_id),
                {"Put": {"TableName": self.catalog_table, "Item": member}},
            ]
        try:
            kit.transact(self.client, items)
        except kit.Cancelled as exc:
            if exc.condition_failed(stop=2):
                raise UsernameTaken(user.username) from None
            if exc.condition_failed(start=2):
                raise InvalidInput("teams", f"no team among {sorted(user.teams)}") from None
            raise

    def update_profile(
        self, user: User, fields: Iterable[str], *, password_hash: str | None = None, keep_an_admin: bool = False
    ) -> int:
        """Write only ``fields`` of an existing, active user, and the new ``password_hash`` (ending every session)
        when one is given, in ONE write: a concurrent change to another field (an admin's demotion while the user
        edits their time zone) is never overwritten with the value this request read, and a refused request leaves
        nothing half-written. ``keep_an_admin``: the write may take an admin away, so it goes through the admin
        guard (``LastAdmin`` when nobody else would be left). Returns the user's token version."""
        values: dict[str, Attr | None] = {
            "display_name": s(user.display_name),
            "timezone": s(user.timezone),
            "reminder_offsets_minutes": kit.numbers(user.reminder_offsets_minutes),
            "role": s(user.role.value),
            "email": s(user.email) if user.email is not None else None,
        }
        update = kit.Update()
        for name in sorted(set(fields)):
            value = values[name]
            if value is None:
                update.remove(name)
            else:
                update.set(name, value)
        if password_hash is not None:
            update.set("password_hash", s(password_hash)).add("token_version", n(1))
        update.set("updated_at", s(_iso(user.updated_at)))
        if not keep_an_admin:
            stored = self._update_active(user.id, update)
            return kit.number(stored, "token_version", 0) or 0
        active = update.request(update.equals("status", s(UserStatus.ACTIVE.value)))
        self._without_losing_the_last_admin(user.id, {"Update": {"Key": kit.key(user_pk(user.id), PROFILE), **active}})
        stored_user = self.get(user.id)
        return stored_user.token_version if stored_user is not None else 0

    def set_password(self, user_id: str, password_hash: str, now: datetime, *, bump_token_version: bool) -> int:
        """Store a new hash; bumping the token version kills every token minted before. Returns the version."""
        update = kit.Update().set("password_hash", s(password_hash)).set("updated_at", s(_iso(now)))
        if bump_token_version:
            update.add("token_version", n(1))
        stored = self._update_active(user_id, update)
        return kit.number(stored, "token_version", 0) or 0

    def rehash(self, user_id: str, old_hash: str, new_hash: str) -> None:
        """Upgrade the stored hash to current KDF parameters, unless the password changed meanwhile."""
        update = kit.Update().set("password_hash", s(new_hash))
        kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=kit.key(user_pk(user_id), PROFILE),
            **update.request(update.equals("password_hash", s(old_hash))),
        )

    def revoke_session(self, user_id: str, sid: str, revoked_at: int, stale: Iterable[str] = ()) -> None:
        """Record a revoked family on the user item, so the per-request read sees it; prune entries past use."""
        update = kit.Update().set("revoked_sessions", n(revoked_at), sid)
        for old in stale:
            if old != sid:
                update.remove("revoked_sessions", old)
        # a user deleted meanwhile has no sessions left to revoke
        kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=kit.key(user_pk(user_id), PROFILE),
            **update.request(update.exists("pk")),
        )

    def delete(self, user: User, now: datetime) -> None:
        """Soft delete: the item stays (incidents and shifts still name the id) but cannot log in, drops out of the
        list and the chat index, every token dies, and the username is free again. Through the admin guard: the
        last active admin is never deleted (``LastAdmin``)."""
        profile = (
            kit.Update()
            .set("status", s(UserStatus.DELETED.value))
            .remove("list_pk")
            .remove("telegram_chat_id")
            .remove("password_hash")
            .add("token_version", n(1))
            .set("updated_at", s(_iso(now)))
        )
        guard = kit.Update()
        present = f"{profile.name('status')} IN ({profile.value(s(UserStatus.ACTIVE.value))}, " + (
            f"{profile.value(s(UserStatus.DISABLED.value))})"
        )
        self._without_losing_the_last_admin(
            user.id,
            {"Update": {"Key": kit.key(user_pk(user.id), PROFILE), **profile.request(present)}},
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": kit.key(username_pk(user.username), GUARD),
                    "ConditionExpression": guard.equals("user_id", s(user.id)),
                    **guard.placeholders(),
                }
            },
        )

    def set_status(self, user: User, status: UserStatus, now: datetime) -> None:
        """Disable an active person (every token minted before dies with the version bump; an admin only while
        another active admin remains) or enable a disabled one. ``NotFound`` when the person is not in the state
        the change starts from."""
        update = kit.Update().set("status", s(status.value)).set("updated_at", s(_iso(now)))
        if status is UserStatus.DISABLED:
            update.add("token_version", n(1)).add("api_token_epoch", n(1))
        start = UserStatus.ACTIVE if status is UserStatus.DISABLED else UserStatus.DISABLED
        request = update.request(update.equals("status", s(start.value)))
        if status is UserStatus.DISABLED and user.role is Role.ADMIN:
            self._without_losing_the_last_admin(
                user.id, {"Update": {"Key": kit.key(user_pk(user.id), PROFILE), **request}}
            )
            return
        done = kit.try_write(
            self.client.update_item, TableName=self.table, Key=kit.key(user_pk(user.id), PROFILE), **request
        )
        if done is None:
            raise NotFound("user", user.id)

    def _without_losing_the_last_admin(self, user_id: str, write: dict[str, Any], *more: dict[str, Any]) -> None:
        """``write`` (a transaction ``Update`` of ``user_id``'s profile, without its table) and ``more``, in one
        transaction with the admin guard bumped on the version read, once another active admin is confirmed by
        consistent reads. A guard moved meanwhile means another such write won: read again and decide again."""
        for _ in range(ADMIN_GUARD_ATTEMPTS):
            guard = self._get(ADMINS_PK, GUARD)
            read = kit.number(guard, "version", 0) if guard else None
            if not self._other_active_admins(user_id):
                raise LastAdmin()
            bump = kit.Update().set("version", n((read or 0) + 1))
            condition = bump.absent("pk") if read is None else bump.equals("version", n(read))
            items = [
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": kit.key(ADMINS_PK, GUARD),
                        **bump.request(condition),
                    }
                },
                {"Update": {"TableName": self.table, **write["Update"]}},
                *more,
            ]
            try:
                kit.transact(self.client, items)
                return
            except kit.Cancelled as exc:
                if exc.any_of((kit.CONDITION_FAILED, kit.TRANSACTION_CONFLICT), stop=1):
                    continue  # another admin-removing write went first
                if exc.condition_failed(start=1):
                    raise NotFound("user", user_id) from None
                if exc.any_of((kit.TRANSACTION_CONFLICT,)):
                    continue
                raise
        raise ConcurrentUpdate("admins kept changing concurrently; try again", attempts=ADMIN_GUARD_ATTEMPTS)

    def _other_active_admins(self, user_id: str) -> list[str]:
        """Active admins other than ``user_id``: the list index names the candidates (it may lag), each confirmed by
        a consistent read of its item; a lagging index can only make this refuse, never let the last admin go."""
        candidates = kit.query_all(
            self.client,
            TableName=self.table,
            IndexName=USERS_BY_NAME,
            KeyConditionExpression="list_pk = :pk",
            FilterExpression="#role = :admin",
            ExpressionAttributeNames={"#role": "role"},
            ExpressionAttributeValues={":pk": s(USER_LIST_PK), ":admin": s(Role.ADMIN.value)},
        )
        others = {text(item, "id") for item in candidates} - {user_id, None}
        confirmed = [self.get(other) for other in sorted(o for o in others if o)]
        return [u.id for u in confirmed if u is not None and u.active and u.role is Role.ADMIN]

    def paginate(self, limit: int, cursor: dict[str, Any] | None) -> tuple[list[User], dict[str, Any] | None]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": USERS_BY_NAME,
            "KeyConditionExpression": "list_pk = :pk",
            "ExpressionAttributeValues": {":pk": s(USER_LIST_PK)},
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = cursor
        page = self.client.query(**request)
        return [user_of(i) for i in page.get("Items", [])], page.get("LastEvaluatedKey")

    def any_active_admin(self) -> bool:
        admins = kit.query_all(
            self.client,
            TableName=self.table,
            IndexName=USERS_BY_NAME,
            KeyConditionExpression="list_pk = :pk",
            FilterExpression="#role = :admin",
            ExpressionAttributeNames={"#role": "role"},
            ExpressionAttributeValues={":pk": s(USER_LIST_PK), ":admin": s(Role.ADMIN.value)},
        )
        return any(text(item, "status") == UserStatus.ACTIVE.value for item in admins)

    def put_link_code(self, code_hash: str, user_id: str, expires_at: int) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={**kit.key(link_pk(code_hash), CODE), "user_id": s(user_id), "expires_at": n(expires_at)},
            **kit.if_absent(),
        )

    def consume_link_code(self, code_hash: str, chat_id: str, now: datetime) -> User:
        """Single use: the code's conditional update and the user's link commit together or not at all. A chat
        linked to someone else before moves to this user (one chat, one person)."""
        code = self._get(link_pk(code_hash), CODE)
        if code is None:
            raise LinkCodeInvalid(_LINK_INVALID)
        owner = code["user_id"]["S"]
        previous = [
            item["pk"]["S"]
            for item in kit.query_all(
                self.client,
                TableName=self.table,
                IndexName=USERS_BY_TELEGRAM_CHAT,
                KeyConditionExpression="telegram_chat_id = :chat",
                ExpressionAttributeValues={":chat": s(chat_id)},
            )
            if item["pk"]["S"] != user_pk(owner)
        ]
        use = kit.Update().set("used_at", s(_iso(now))).set("chat_id", s(chat_id))
        unused = f"{use.absent('used_at')} AND {use.name('expires_at')} > {use.value(n(int(now.timestamp())))}"
        link = kit.Update().set("telegram_chat_id", s(chat_id)).set("updated_at", s(_iso(now)))
        items: list[dict[str, Any]] = [
            {"Update": {"TableName": self.table, "Key": kit.key(link_pk(code_hash), CODE), **use.request(unused)}},
            {
                "Update": {
                    "TableName": self.table,
                    "Key": kit.key(user_pk(owner), PROFILE),
                    **link.request(link.equals("status", s(UserStatus.ACTIVE.value))),
                }
            },
        ]
        for pk in previous:
            unlink = kit.Update().remove("telegram_chat_id")
            condition = unlink.equals("telegram_chat_id", s(chat_id))
            items.append(
                {"Update": {"TableName": self.table, "Key": kit.key(pk, PROFILE), **unlink.request(condition)}}
            )
        try:
            kit.transact(self.client, items)
        except kit.Cancelled as exc:
            if exc.condition_failed():
                raise LinkCodeInvalid(_LINK_INVALID) from None
            raise
        user = self.get(owner)
        if user is None:
            raise LinkCodeInvalid(_LINK_INVALID)
        return user

    def find_by_telegram_chat(self, chat_id: str) -> User | None:
        page = self.client.query(
            TableName=self.table,
            IndexName=USERS_BY_TELEGRAM_CHAT,
            KeyConditionExpression="telegram_chat_id = :chat",
            ExpressionAttributeValues={":chat": s(chat_id)},
            Limit=1,
        )
        for item in page.get("Items", []):
            return self.get(item["pk"]["S"].removeprefix("USER#"))
        return None

    def _update_active(self, user_id: str, update: kit.Update) -> Item:
        """Apply ``update`` to an active user; the item as it is now. NotFound when there is no active user."""
        done = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=kit.key(user_pk(user_id), PROFILE),
            ReturnValues="ALL_NEW",
            **update.request(update.equals("status", s(UserStatus.ACTIVE.value))),
        )
        if done is None:
            raise NotFound("user", user_id)
        attributes: Item = done.get("Attributes", {})
        return attributes
