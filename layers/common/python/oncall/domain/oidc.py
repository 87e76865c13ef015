"""Signing in with the company's identity provider (OpenID Connect): the decisions, without I/O or a clock
(docs/architecture.md, "Single sign-on").

The flow is the authorization code flow with PKCE (RFC 7636, ``S256``), ``state`` and ``nonce``: ``begin`` makes the
three secrets and the provider URL; the callback consumes the stored state once (a tampered or replayed ``state`` is
refused), the adapter exchanges the code and verifies the ID token's signature, ``iss``, ``aud``, ``exp``, ``iat``;
then ``identity_of`` reads the claims, ``nonce_matches`` binds the token to this sign-in, and ``admit`` decides who the
person is here: the person linked to the provider's subject, or (first sign-in) the person invited under that email,
or a new one when just-in-time provisioning is on, with the role and teams the groups claim maps to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from oncall.domain.errors import Forbidden, InvalidInput
from oncall.domain.users import Role

#: how long a started sign-in may take at the provider before its state is forgotten
STATE_TTL = timedelta(minutes=10)
_SAFE_RETURN = re.compile(r"^/[A-Za-z0-9/_.~%?=&-]{0,500}$")


class SignInRefused(Forbidden):
    """A sign-in that cannot go on: ``reason`` is stable for clients, ``message`` is for the person at the browser."""

    code = "sign_in_refused"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason


class Provisioning(StrEnum):
    #: only people an admin created beforehand (linked by email at their first sign-in)
    INVITED = "invited"
    #: anyone the provider vouches for (within the allowed domains) gets an account at first sign-in
    JIT = "jit"


@dataclass(frozen=True)
class Started:
    """A sign-in begun: ``state`` goes to the provider and comes back; the rest stays here, stored by its hash."""

    state: str
    nonce: str
    verifier: str
    return_to: str

    @property
    def challenge(self) -> str:
        return pkce_challenge(self.verifier)


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str
    email: str
    name: str
    groups: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """What links a person here to the provider's account: stable across email changes."""
        return state_hash(f"{self.issuer} {self.subject}")


@dataclass(frozen=True)
class Policy:
    provisioning: Provisioning = Provisioning.INVITED
    default_role: Role = Role.VIEWER
    allowed_domains: frozenset[str] = frozenset()
    #: group name → global role; the highest matched wins
    group_roles: Mapping[str, Role] = field(default_factory=dict)
    #: group name → {team id: team role}
    group_teams: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: with mappings configured, someone in none of the mapped groups is refused (and, if linked, disabled)
    require_group: bool = False


def begin(return_to: str | None) -> Started:
    return Started(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(48),
        return_to=safe_return(return_to),
    )


def safe_return(raw: str | None) -> str:
    """Only a path on this site: never an open redirect to somewhere else (``//evil``, ``https://...``)."""
    if not raw:
        return "/"
    if not _SAFE_RETURN.match(raw) or raw.startswith("//"):
        raise InvalidInput("return_to", "must be a path on this site")
    return raw


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def state_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def nonce_matches(claims: Mapping[str, Any], expected: str) -> bool:
    got = claims.get("nonce")
    return isinstance(got, str) and hmac.compare_digest(got.encode(), expected.encode())


def identity_of(claims: Mapping[str, Any], groups_claim: str) -> Identity:
    """The person the verified ID token speaks of. An email is required (it is how an invitation is found and how
    pages reach people); one the provider says is unverified is refused."""
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise SignInRefused("no_email", "the identity provider did not share an email address (scope 'email')")
    if claims.get("email_verified") is False:
        raise SignInRefused("email_unverified", "the identity provider says this email address is not verified")
    raw_groups = claims.get(groups_claim, ())
    groups = tuple(str(g) for g in raw_groups) if isinstance(raw_groups, list) else ()
    name = claims.get("name") or claims.get("preferred_username") or email.split("@", 1)[0]
    return Identity(str(claims["iss"]), str(claims["sub"]), email.strip().lower(), str(name)[:128], groups)


def check_domain(identity: Identity, policy: Policy) -> None:
    domain = identity.email.rsplit("@", 1)[1]
    if policy.allowed_domains and domain not in policy.allowed_domains:
        raise SignInRefused(
            "email_domain", f"accounts of {domain} cannot sign in here; ask an administrator which account to use"
        )


_RANK = {Role.VIEWER: 0, Role.RESPONDER: 1, Role.ADMIN: 2}


def mapped_role(identity: Identity, policy: Policy) -> Role | None:
    """The highest role the person's groups map to; None when no group is mapped."""
    found = [policy.group_roles[g] for g in identity.groups if g in policy.group_roles]
    return max(found, key=lambda r: _RANK[r]) if found else None


def mapped_teams(identity: Identity, policy: Policy) -> dict[str, str] | None:
    """Team id → team role from the groups (the strongest role when two groups name one team); None when the policy
    maps no groups to teams."""
    if not policy.group_teams:
        return None
    order = {"observer": 0, "responder": 1, "manager": 2}
    teams: dict[str, str] = {}
    for group in identity.groups:
        for team, role in policy.group_teams.get(group, {}).items():
            if team not in teams or order.get(role, 0) > order.get(teams[team], 0):
                teams[team] = role
    return teams


def in_a_mapped_group(identity: Identity, policy: Policy) -> bool:
    mapped = set(policy.group_roles) | set(policy.group_teams)
    return not policy.require_group or not mapped or bool(mapped & set(identity.groups))


def username_candidates(email: str) -> Sequence[str]:
    """Usernames to try for a person provisioned just in time: the email's local part made valid, then with the
    domain's first label, then numbered."""
    local, _, domain = email.partition("@")
    base = re.sub(r"[^a-z0-9._-]", "-", local.lower()).strip("._-")[:40] or "user"
    if len(base) < 3:
        base = f"{base}-user"
    label = re.sub(r"[^a-z0-9-]", "-", domain.split(".", 1)[0].lower())[:20]
    return [base, f"{base}.{label}", *(f"{base}{n}" for n in range(2, 50))]


def expires(now: datetime) -> datetime:
    return now + STATE_TTL
