"""Single sign-on's items (docs/architecture.md, "Single sign-on"):

==============================  ==========  ===============================================================
pk                              sk          item
==============================  ==========  ===============================================================
``OIDCSTATE#<sha256(state)>``   ``STATE``   (table ``auth``) a sign-in begun: nonce, PKCE verifier, where to
                                            return; ``expires_at`` (TTL) 10 minutes on. Deleted by the callback
                                            that uses it: a state works once.
``OIDC#<sha256(iss sub)>``      ``LINK``    (table ``users``) the provider's subject → the person it signs in
                                            as; written in one transaction with the person's
                                            ``external_subject``, so a subject links one person and a person
                                            one subject.
==============================  ==========  ===============================================================
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.identity import PROFILE, listed_users, user_of, user_pk
from oncall.adapters.dynamodb.kit import n, s, text
from oncall.domain.oidc import Started, state_hash
from oncall.domain.users import User, UserStatus

STATE = "STATE"
LINK = "LINK"


def state_pk(state: str) -> str:
    return f"OIDCSTATE#{state_hash(state)}"


def link_pk(identity_key: str) -> str:
    return f"OIDC#{identity_key}"


class DynamoSignInStore:
    def __init__(self, auth_table: str, users_table: str, client: Any = None) -> None:
        self.auth_table = auth_table
        self.users_table = users_table
        self.client = client if client is not None else kit.client()

    def put_state(self, started: Started, expires_at: datetime) -> None:
        self.client.put_item(
            TableName=self.auth_table,
            Item={
                **kit.key(state_pk(started.state), STATE),
                "nonce": s(started.nonce),
                "verifier": s(started.verifier),
                "return_to": s(started.return_to),
                "expires_at": n(int(expires_at.timestamp())),
            },
        )

    def take_state(self, state: str, now: datetime) -> Started | None:
        """The sign-in ``state`` began, removed as it is read (a second callback with it finds nothing); None when
        unknown, used or expired (TTL deletes late, so expiry is checked here too)."""
        done = kit.try_write(
            self.client.delete_item,
            TableName=self.auth_table,
            Key=kit.key(state_pk(state), STATE),
            ConditionExpression="attribute_exists(pk)",
            ReturnValues="ALL_OLD",
        )
        item = (done or {}).get("Attributes")
        if not item or int(item["expires_at"]["N"]) <= now.timestamp():
            return None
        return Started(state, item["nonce"]["S"], item["verifier"]["S"], item["return_to"]["S"])

    def linked(self, identity_key: str) -> User | None:
        link = self.client.get_item(
            TableName=self.users_table, Key=kit.key(link_pk(identity_key), LINK), ConsistentRead=True
        ).get("Item")
        user_id = text(link, "user_id") if link else None
        if user_id is None:
            return None
        item = self.client.get_item(
            TableName=self.users_table, Key=kit.key(user_pk(user_id), PROFILE), ConsistentRead=True
        ).get("Item")
        return user_of(item) if item else None

    def by_email(self, email: str) -> list[User]:
        """People (not deleted) with this email, compared without case: read at a person's first sign-in only
        (afterwards the link answers in one read)."""
        return [u for u in listed_users(self.client, self.users_table) if u.email and u.email.lower() == email]

    def link(self, user: User, identity_key: str, subject: str, now: datetime) -> bool:
        """Link ``user`` to the provider's subject; False when either is linked already (to something else)."""
        profile = kit.Update().set("external_subject", s(subject)).set("updated_at", s(now.isoformat()))
        condition = (
            f"{profile.equals('status', s(UserStatus.ACTIVE.value))} AND "
            f"({profile.absent('external_subject')} OR {profile.equals('external_subject', s(subject))})"
        )
        items = [
            {
                "Put": {
                    "TableName": self.users_table,
                    "Item": {**kit.key(link_pk(identity_key), LINK), "user_id": s(user.id)},
                    **kit.if_absent(),
                }
            },
            {
                "Update": {
                    "TableName": self.users_table,
                    "Key": kit.key(user_pk(user.id), PROFILE),
                    **profile.request(condition),
                }
            },
        ]
        try:
            kit.transact(self.client, items)
        except kit.Cancelled as exc:
            if exc.condition_failed():
                return False
            raise
        return True
