"""People, identity and schedules: what every other part of the composition builds on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oncall.settings import get_settings, load
from oncall.wiring.seam import clock, once, secret_reader

if TYPE_CHECKING:
    from oncall.adapters.dynamodb.audit import DynamoAuditTrail as AuditLog
    from oncall.security.keys import KeySource
    from oncall.services.api_tokens import ApiTokenService
    from oncall.services.audit_ports import Recorder
    from oncall.services.auth import AuthService
    from oncall.services.directory import Directory
    from oncall.services.identity_ports import PasswordHasher, TokenCodec, UserLookup, UserStore
    from oncall.services.readiness import ReadinessCheck
    from oncall.services.schedules import ScheduleService
    from oncall.services.sso import SignInService
    from oncall.services.teams import TeamStore
    from oncall.services.users import UserService


def audit() -> Recorder:
    """Where changes are recorded: the audit table's trail in the functions granted it, nothing elsewhere (a change
    only people make through the API is recorded; the API is granted it)."""

    def build() -> Recorder:
        from datetime import timedelta

        from oncall.services.audit_ports import NO_AUDIT, Recorder

        settings = get_settings()
        if "audit" not in settings.tables:
            return NO_AUDIT
        from oncall.adapters.dynamodb.audit import DynamoAuditTrail

        retention = timedelta(days=settings.audit_retention_days)
        trail = DynamoAuditTrail(settings.table("audit"), retention, outbox_table=settings.tables.get("outbox"))
        return Recorder(trail, clock())

    return once("audit", build)


def audit_log() -> AuditLog:
    def build() -> AuditLog:
        from datetime import timedelta

        from oncall.adapters.dynamodb.audit import DynamoAuditTrail

        settings = get_settings()
        return DynamoAuditTrail(settings.table("audit"), timedelta(days=settings.audit_retention_days))

    return once("audit_log", build)


def user_store() -> UserStore:
    """People, as identity stores them: every function that reads people is granted the users table."""

    def build() -> UserStore:
        from oncall.adapters.dynamodb.identity import DynamoUserStore

        settings = get_settings()
        # team members are kept in the catalog; only functions that create users or change teams are given it
        return DynamoUserStore(settings.table("users"), catalog_table=settings.tables.get("catalog"))

    return once("user_store", build)


def hasher() -> PasswordHasher:
    def build() -> PasswordHasher:
        from oncall.security.passwords import Argon2Hasher

        auth = get_settings().auth
        return Argon2Hasher(auth.argon2_time_cost, auth.argon2_memory_kib, auth.argon2_parallelism)

    return once("hasher", build)


def key_source() -> KeySource:
    def build() -> KeySource:
        from oncall.security.keys import KeySource
        from oncall.settings import KeySettings

        return KeySource(load(KeySettings).keys, secret_reader().value)

    return once("key_source", build)


def token_codec() -> TokenCodec:
    def build() -> TokenCodec:
        from oncall.security.jwt import TokenCodec as Codec

        auth = get_settings().auth
        return Codec(key_source().get, issuer=auth.issuer, audience=auth.audience)

    return once("token_codec", build)


def auth_service() -> AuthService:
    def build() -> AuthService:
        from oncall.adapters.dynamodb.auth import DynamoLoginCounters, DynamoSessionStore
        from oncall.services.auth import AuthService

        # only the API is granted the auth table: sessions and login counters live there
        auth_table = get_settings().table("auth")
        return AuthService(
            users=user_store(),
            sessions=DynamoSessionStore(auth_table),
            counters=DynamoLoginCounters(auth_table),
            hasher=hasher(),
            codec=token_codec(),
            settings=get_settings().auth,
            clock=clock(),
        )

    return once("auth_service", build)


def sign_in_service() -> SignInService | None:
    """Single sign-on, or None when no identity provider is configured (``ONCALL_OIDC_ISSUER`` unset)."""

    def build() -> SignInService | None:
        from oncall.settings import OidcSettings, Problem, SettingsError, load

        oidc = load(OidcSettings)
        if not oidc.enabled:
            return None
        import json

        from oncall.adapters.dynamodb.sso import DynamoSignInStore
        from oncall.adapters.oidc import OidcProvider
        from oncall.domain.oidc import Policy, Provisioning
        from oncall.domain.users import Role
        from oncall.services.sso import SignInService

        settings = get_settings()
        redirect = oidc.redirect_url or (f"{settings.public_url}/auth/oidc/callback" if settings.public_url else None)
        if not oidc.client_id or not redirect or not oidc.issuer:
            needed = "ONCALL_OIDC_CLIENT_ID and ONCALL_OIDC_REDIRECT_URL (or ONCALL_PUBLIC_URL)"
            raise SettingsError([Problem(needed, "", "required with ONCALL_OIDC_ISSUER", True)])
        policy = Policy(
            provisioning=Provisioning(oidc.provisioning),
            default_role=Role(oidc.default_role),
            allowed_domains=frozenset(d.strip().lower() for d in oidc.allowed_domains.split(",") if d.strip()),
            group_roles={g: Role(r) for g, r in json.loads(oidc.group_roles or "{}").items()},
            group_teams=json.loads(oidc.group_teams or "{}"),
            require_group=oidc.require_group,
        )
        provider = OidcProvider(oidc.issuer, oidc.client_id, secret_reader().value(oidc.secret))
        store = DynamoSignInStore(settings.table("auth"), settings.table("users"))
        return SignInService(
            provider,
            store,
            user_service(),
            auth_service(),
            clock(),
            policy=policy,
            redirect_uri=redirect,
            scope=oidc.scopes,
            groups_claim=oidc.groups_claim,
        )

    return once("sign_in_service", build)


def api_token_service() -> ApiTokenService:
    def build() -> ApiTokenService:
        from oncall.adapters.dynamodb.api_tokens import DynamoApiTokenStore
        from oncall.services.api_tokens import ApiTokenService

        settings = get_settings()
        return ApiTokenService(
            DynamoApiTokenStore(settings.table("users")),
            user_store(),
            clock(),
            cache_seconds=settings.auth.api_token_cache_seconds,
            audit=audit(),
        )

    return once("api_token_service", build)


def user_service() -> UserService:
    def build() -> UserService:
        from oncall.adapters.telegram_directory import TelegramBotDirectory
        from oncall.services.users import UserService
        from oncall.settings import TelegramSettings

        return UserService(
            users=user_store(),
            hasher=hasher(),
            settings=get_settings().auth,
            clock=clock(),
            bot=TelegramBotDirectory(load(TelegramSettings)),
            # only functions granted the catalog (the API, the operator's CLI) create users, and with them members
            teams=team_store() if "catalog" in get_settings().tables else None,
            audit=audit(),
        )

    return once("user_service", build)


def team_store() -> TeamStore:
    def build() -> TeamStore:
        from oncall.adapters.dynamodb.teams import DynamoTeamStore

        settings = get_settings()
        return DynamoTeamStore(settings.table("catalog"), settings.table("users"))

    return once("team_store", build)


def schedule_service() -> ScheduleService:
    def build() -> ScheduleService:
        from datetime import timedelta

        from oncall.adapters import outbox
        from oncall.adapters.dynamodb.schedules import DynamoScheduleStore, UserDirectory
        from oncall.services.schedules import ScheduleService

        settings = get_settings()
        return ScheduleService(
            store=DynamoScheduleStore(
                settings.table("schedules"), outbox=outbox.transact_put, catalog_table=settings.tables.get("catalog")
            ),
            people=UserDirectory(user_store()),
            clock=clock(),
            max_shift=timedelta(hours=settings.max_shift_hours),
            horizon=timedelta(days=settings.rotation_horizon_days),
            teams=team_store() if "catalog" in settings.tables else None,
            audit=audit(),
        )

    return once("schedule_service", build)


def directory() -> Directory:
    def build() -> Directory:
        from oncall.services.directory import Directory

        return Directory(user_store(), schedule_service().store, clock())

    return once("directory", build)


def people() -> UserLookup:
    return user_store()


def metrics_token() -> str | None:
    """The bearer token of ``/metrics`` and ``/health/ready`` (``MetricsSettings``), read once per cold start; None
    when none is configured (then only signed-in admins may read them)."""
    from oncall.settings import MetricsSettings

    def build() -> str | None:
        where = load(MetricsSettings).secret
        return None if where is None else secret_reader().value(where)

    return once("metrics_token", build)


def readiness() -> ReadinessCheck:
    """What ``GET /health/ready`` runs: every table this function is given (by logical name, so the answer names no
    physical resource), the bus and the incident-lifecycle state machine, each probed by a read-only describe."""

    def build() -> ReadinessCheck:
        from oncall.adapters.readiness import AwsProbes, error_code
        from oncall.services.readiness import Probe, ReadinessCheck
        from oncall.settings import LifecycleSettings, SettingsError

        settings = get_settings()
        try:
            machine: str | None = load(LifecycleSettings).state_machine_arn
        except SettingsError:
            machine = None  # reported as a failing check (NotConfigured), not as a 500
        aws = AwsProbes(settings.region)
        probes = [Probe(f"table:{name}", aws.table(physical)) for name, physical in sorted(settings.tables.items())]
        probes.append(Probe("bus", aws.bus(settings.bus_name)))
        probes.append(Probe("state-machine:incident-lifecycle", aws.state_machine(machine)))
        return ReadinessCheck(probes, describe=error_code)

    return once("readiness", build)
