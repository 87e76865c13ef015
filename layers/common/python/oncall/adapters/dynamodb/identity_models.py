"""pynamodb models for identity: the ``users`` and ``auth`` tables (declared in ``infra/topology.py``).

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
====================  ==========  =========================================================================

GSI ``by-username`` (``list_pk`` = ``USER``, ``username``): list users in name order with a cursor; sparse, a
deleted user drops out. GSI ``by-telegram-chat`` (``telegram_chat_id``): the bot's "who is this chat"; sparse.

``auth`` (pk, sk), every item expires (TTL ``expires_at``):

=============================  ==========  ================================================================
``FAMILY#<sid>``               ``FAMILY``  a refresh-token family (one login); ``revoked_at`` once revoked.
``REFRESH#<jti>``              ``TOKEN``   one refresh token: state active/rotated, successor for the grace.
``LOGINFAIL#user#<name>``      window      failed-login counter per username per window (ADD count).
``LOGINFAIL#ip#<address>``     window      failed-login counter per source IP per window.
=============================  ==========  ================================================================
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

USERS_BY_NAME = "by-username"
USERS_BY_TELEGRAM_CHAT = "by-telegram-chat"
USER_LIST_PK = "USER"
PROFILE = "PROFILE"
GUARD = "GUARD"
CODE = "CODE"
FAMILY = "FAMILY"
TOKEN = "TOKEN"  # noqa: S105 (a sort key, not a credential)


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def username_pk(username: str) -> str:
    return f"USERNAME#{username}"


def link_pk(code_hash: str) -> str:
    return f"LINK#{code_hash}"


def family_pk(sid: str) -> str:
    return f"FAMILY#{sid}"


def refresh_pk(jti: str) -> str:
    return f"REFRESH#{jti}"


class _Meta:
    table_name = "oncall-users"
    region = "us-east-1"
    host: str | None = None


class UsersByName(GlobalSecondaryIndex[Any]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = USERS_BY_NAME
        projection = AllProjection()

    list_pk = UnicodeAttribute(hash_key=True)
    username = UnicodeAttribute(range_key=True)


class UsersByTelegramChat(GlobalSecondaryIndex[Any]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = USERS_BY_TELEGRAM_CHAT
        projection = KeysOnlyProjection()

    telegram_chat_id = UnicodeAttribute(hash_key=True)


class UserItem(Model):
    class Meta(_Meta):
        table_name = "oncall-users"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=PROFILE)
    id = UnicodeAttribute()
    username = UnicodeAttribute()
    list_pk = UnicodeAttribute(null=True)
    role = UnicodeAttribute()
    status = UnicodeAttribute()
    display_name = UnicodeAttribute()
    email = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute()
    reminder_offsets_minutes: ListAttribute[Any] = ListAttribute(of=NumberAttribute, default=list)
    token_version = NumberAttribute(default=0)
    telegram_chat_id = UnicodeAttribute(null=True)
    password_hash = UnicodeAttribute(null=True)
    revoked_sessions = MapAttribute[str, Any](default=dict)  # type: ignore[no-untyped-call]
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()

    by_username = UsersByName()
    by_telegram_chat = UsersByTelegramChat()


class UsernameGuardItem(Model):
    class Meta(_Meta):
        table_name = "oncall-users"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=GUARD)
    user_id = UnicodeAttribute()


class LinkCodeItem(Model):
    class Meta(_Meta):
        table_name = "oncall-users"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=CODE)
    user_id = UnicodeAttribute()
    expires_at = NumberAttribute()
    used_at = UnicodeAttribute(null=True)
    chat_id = UnicodeAttribute(null=True)


class FamilyItem(Model):
    class Meta(_Meta):
        table_name = "oncall-auth"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=FAMILY)
    user_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
    revoked_at = UnicodeAttribute(null=True)
    expires_at = NumberAttribute()


class RefreshItem(Model):
    class Meta(_Meta):
        table_name = "oncall-auth"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=TOKEN)
    family_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    state = UnicodeAttribute()
    rotated_at = UnicodeAttribute(null=True)
    successor_jti = UnicodeAttribute(null=True)
    successor_iat = NumberAttribute(null=True)
    expires_at = NumberAttribute()


class CounterItem(Model):
    class Meta(_Meta):
        table_name = "oncall-auth"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    #: not ``count``: that name is Model.count()
    failures = NumberAttribute(default=0)
    expires_at = NumberAttribute()


USERS_MODELS: tuple[type[Model], ...] = (UserItem, UsernameGuardItem, LinkCodeItem)
AUTH_MODELS: tuple[type[Model], ...] = (FamilyItem, RefreshItem, CounterItem)


def bind(users_table: str, auth_table: str, region: str, host: str | None = None) -> None:
    """Point the models at physical tables (once per cold start; the runner's bootstrap passes the emulator URL)."""
    for models, name in ((USERS_MODELS, users_table), (AUTH_MODELS, auth_table)):
        for model in models:
            model.Meta.table_name = name
            model.Meta.region = region
            model.Meta.host = host
            model._connection = None
