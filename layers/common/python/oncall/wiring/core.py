"""People, identity and schedules: what every other part of the composition builds on."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from oncall.settings import get_settings
from oncall.wiring.seam import clock, once

if TYPE_CHECKING:
    from oncall.security.keys import KeySource
    from oncall.services.auth import AuthService
    from oncall.services.identity_ports import PasswordHasher, TokenCodec, UserLookup
    from oncall.services.schedules import ScheduleService
    from oncall.services.users import UserService


def bind_identity_tables() -> None:
    def build() -> bool:
        from oncall.adapters.dynamodb import identity_models

        settings = get_settings()
        identity_models.bind(
            settings.table("users"),
            # functions that only read people (the bot, reminders) are not granted the auth table
            settings.tables.get("auth", "auth-table-not-granted"),
            settings.region,
            os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None,
        )
        return True

    once("identity_tables", build)


def hasher() -> PasswordHasher:
    def build() -> PasswordHasher:
        from oncall.security.passwords import Argon2Hasher

        auth = get_settings().auth
        return Argon2Hasher(auth.argon2_time_cost, auth.argon2_memory_kib, auth.argon2_parallelism)

    return once("hasher", build)


def key_source() -> KeySource:
    def build() -> KeySource:
        from oncall.security.keys import KeySource

        return KeySource()

    return once("key_source", build)


def token_codec() -> TokenCodec:
    def build() -> TokenCodec:
        from oncall.security.jwt import TokenCodec as Codec

        auth = get_settings().auth
        return Codec(key_source().get, issuer=auth.issuer, audience=auth.audience)

    return once("token_codec", build)


def auth_service() -> AuthService:
    def build() -> AuthService:
        from oncall.adapters.dynamodb.identity import DynamoLoginCounters, DynamoSessionStore, DynamoUserStore
        from oncall.services.auth import AuthService

        bind_identity_tables()
        return AuthService(
            users=DynamoUserStore(),
            sessions=DynamoSessionStore(),
            counters=DynamoLoginCounters(),
            hasher=hasher(),
            codec=token_codec(),
            settings=get_settings().auth,
            clock=clock(),
        )

    return once("auth_service", build)


def user_service() -> UserService:
    def build() -> UserService:
        from oncall.adapters.dynamodb.identity import DynamoUserStore
        from oncall.adapters.telegram_directory import TelegramBotDirectory
        from oncall.services.users import UserService

        bind_identity_tables()
        return UserService(
            users=DynamoUserStore(),
            hasher=hasher(),
            settings=get_settings().auth,
            clock=clock(),
            bot=TelegramBotDirectory(os.environ),
        )

    return once("user_service", build)


def schedule_service() -> ScheduleService:
    def build() -> ScheduleService:
        from datetime import timedelta

        from oncall.adapters import outbox
        from oncall.adapters.dynamodb.identity import DynamoUserStore
        from oncall.adapters.dynamodb.schedules import DynamoScheduleStore, UserDirectory
        from oncall.services.schedules import ScheduleService

        bind_identity_tables()
        settings = get_settings()
        return ScheduleService(
            store=DynamoScheduleStore(settings.table("schedules"), outbox=outbox.transact_put),
            people=UserDirectory(DynamoUserStore()),
            clock=clock(),
            max_shift=timedelta(hours=settings.max_shift_hours),
            horizon=timedelta(days=settings.rotation_horizon_days),
        )

    return once("schedule_service", build)


def people() -> UserLookup:
    from oncall.adapters.dynamodb.identity import DynamoUserStore

    bind_identity_tables()
    return DynamoUserStore()
