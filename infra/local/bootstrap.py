"""The local runner's first admin: from ``ONCALL_ADMIN_USERNAME`` / ``ONCALL_ADMIN_PASSWORD`` (``admin`` when only
the password is set), or, when those are unset and no admin exists yet, ``admin`` with a generated password the
runner prints once in its banner.

It writes through the same user service the API uses, against the emulator's endpoint, so the admin is stored exactly
as one created over HTTP would be (Argon2id hash, username guard). Idempotent: a restart with kept state finds the
admin and creates nothing.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping

from infra.local.loader import LAYER_PATH
from infra.local.resources import PREFIX

# the runner imports the shared package the way a function's layer provides it
if str(LAYER_PATH) not in sys.path:
    sys.path.insert(0, str(LAYER_PATH))

from oncall.domain.users import Role
from oncall.services.users import NewUser, UserService
from oncall.wiring.seam import utc_now

DEFAULT_USERNAME = "admin"


def _service(endpoint_url: str, env: Mapping[str, str]) -> UserService:
    from oncall.adapters.dynamodb import kit
    from oncall.adapters.dynamodb.identity import DynamoUserStore
    from oncall.adapters.dynamodb.teams import DynamoTeamStore
    from oncall.adapters.dynamodb.teams_migration import migrate
    from oncall.security.passwords import Argon2Hasher
    from oncall.settings import from_env

    # the emulator takes any credentials; a shell without AWS variables must still be able to start the runner
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(var, value)
    settings = from_env(dict(env))
    table = env.get("ONCALL_TABLE_USERS") or PREFIX + "users"
    catalog = env.get("ONCALL_TABLE_CATALOG") or PREFIX + "catalog"
    client = kit.client(endpoint_url=endpoint_url, region=env.get("AWS_REGION") or settings.region)
    auth = settings.auth
    hasher = Argon2Hasher(auth.argon2_time_cost, auth.argon2_memory_kib, auth.argon2_parallelism)
    # what was stored before teams joins the default team first, so the admin made next is its manager too
    migrate(client, {"catalog": catalog, "users": table, "schedules": PREFIX + "schedules"}, utc_now())
    return UserService(
        DynamoUserStore(table, client, catalog_table=catalog),
        hasher,
        auth,
        utc_now,
        teams=DynamoTeamStore(catalog, table, client),
    )


def ensure_first_admin(
    endpoint_url: str,
    env: Mapping[str, str] | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
) -> dict[str, str] | None:
    """Returns ``{"username"}`` for a configured admin, ``{"username", "password"}`` when it generated a password (to
    be shown once), or None when an admin already exists and nothing was configured."""
    env = dict(os.environ if env is None else env)
    username = username or env.get("ONCALL_ADMIN_USERNAME") or None
    password = password or env.get("ONCALL_ADMIN_PASSWORD") or None
    service = _service(endpoint_url, env)

    if password:
        # a password alone is the ``admin`` user's: what someone who set only the password expects to sign in with
        name = username or DEFAULT_USERNAME
        return {"username": service.ensure_admin(name, password, existing="align").user.username}

    if service.any_active_admin():
        return None
    name = username or DEFAULT_USERNAME
    generated = secrets.token_urlsafe(18)  # 24 characters, 144 bits
    service.provision(NewUser(username=name, password=generated, role=Role.ADMIN))
    return {"username": name, "password": generated}
