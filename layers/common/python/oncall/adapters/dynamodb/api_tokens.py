"""API tokens in the ``users`` table, in their owner's partition (docs/architecture.md, "API tokens").

====================  ======================  ===============================================================
pk                    sk                      item
====================  ======================  ===============================================================
``USER#<owner>``      ``APITOKEN#<token id>``  name, scopes, ``secret_hash`` (SHA-256 of the secret), created
                                              at/by, expiry (``expires_at``: the table's TTL, so an expired
                                              token's item goes by itself), last use
====================  ======================  ===============================================================

Authenticating a token is ONE ``BatchGetItem`` of the owner's ``PROFILE`` and the token's item, strongly consistent:
a disabled or deleted owner and a revoked token are both seen by the next request. The owner's ``PROFILE`` keeps
``api_tokens``, the count of its tokens, raised and lowered in the same transaction as the token's own write, so the
per-owner cap holds under concurrent mints.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.identity import PROFILE, listed_users, user_of, user_pk
from oncall.adapters.dynamodb.kit import Attr, Item, n, s, text
from oncall.domain.api_tokens import MAX_PER_OWNER, ApiToken
from oncall.domain.errors import Conflict, NotFound
from oncall.domain.users import User, UserKind, UserStatus

TOKEN_PREFIX = "APITOKEN#"  # noqa: S105 - a key prefix, not a secret


def token_sk(token_id: str) -> str:
    return f"{TOKEN_PREFIX}{token_id}"


def token_item(token: ApiToken, secret_hash: str) -> Item:
    item: Item = {
        **kit.key(user_pk(token.owner_id), token_sk(token.id)),
        "id": s(token.id),
        "owner_id": s(token.owner_id),
        "name": s(token.name),
        "scopes": kit.strings(token.scopes),
        "secret_hash": s(secret_hash),
        "created_at": s(token.created_at.isoformat()),
        "created_by": s(token.created_by),
        "owner_epoch": n(token.owner_epoch),
    }
    if token.expires_at is not None:
        item["expires_at"] = n(int(token.expires_at.timestamp()))
    return item


def token_of(item: Mapping[str, Attr]) -> ApiToken:
    expires = kit.number(item, "expires_at")
    used = text(item, "last_used_at")
    return ApiToken(
        id=item["id"]["S"],
        owner_id=item["owner_id"]["S"],
        name=item["name"]["S"],
        scopes=tuple(v["S"] for v in item["scopes"]["L"]),
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        created_by=item["created_by"]["S"],
        expires_at=datetime.fromtimestamp(expires, UTC) if expires is not None else None,
        last_used_at=datetime.fromisoformat(used) if used else None,
        owner_epoch=kit.number(item, "owner_epoch", 0) or 0,
    )


class TokenLimit(Conflict):
    code = "api_token_limit"

    def __init__(self) -> None:
        super().__init__(f"at most {MAX_PER_OWNER} API tokens each; revoke one first")


class DynamoApiTokenStore:
    """Implements ``oncall.services.identity_ports.ApiTokenStore``."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()

    def create(self, token: ApiToken, secret_hash: str) -> None:
        count = kit.Update().add("api_tokens", n(1))
        epoch = count.equals("api_token_epoch", n(token.owner_epoch))
        if token.owner_epoch == 0:
            epoch = f"({count.absent('api_token_epoch')} OR {epoch})"
        # the owner is still active and in the epoch the token names: a disable racing the mint cannot be missed
        room = (
            f"{count.equals('status', s(UserStatus.ACTIVE.value))} AND {epoch} AND ({count.absent('api_tokens')} OR "
            f"{count.name('api_tokens')} < {count.value(n(MAX_PER_OWNER))})"
        )
        items = [
            {"Put": {"TableName": self.table, "Item": token_item(token, secret_hash), **kit.if_absent()}},
            {
                "Update": {
                    "TableName": self.table,
                    "Key": kit.key(user_pk(token.owner_id), PROFILE),
                    **count.request(room),
                }
            },
        ]
        try:
            kit.transact(self.client, items)
        except kit.Cancelled as exc:
            if exc.condition_failed(start=1, stop=2):
                owner = self.client.get_item(
                    TableName=self.table, Key=kit.key(user_pk(token.owner_id), PROFILE), ConsistentRead=True
                ).get("Item")
                if owner is None or text(owner, "status") != UserStatus.ACTIVE.value:
                    raise NotFound("user", token.owner_id) from None
                raise TokenLimit() from None
            raise

    def of_owner(self, owner_id: str) -> list[ApiToken]:
        items = kit.query_all(
            self.client,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": s(user_pk(owner_id)), ":prefix": s(TOKEN_PREFIX)},
            ConsistentRead=True,
        )
        return [token_of(item) for item in items]

    def revoke(self, owner_id: str, token_id: str) -> None:
        count = kit.Update().add("api_tokens", n(-1))
        gone = kit.Update()
        items = [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": kit.key(user_pk(owner_id), token_sk(token_id)),
                    "ConditionExpression": gone.exists("pk"),
                    **gone.placeholders(),
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": kit.key(user_pk(owner_id), PROFILE),
                    **count.request(count.exists("pk")),
                }
            },
        ]
        try:
            kit.transact(self.client, items)
        except kit.Cancelled as exc:
            if exc.condition_failed():
                raise NotFound("api_token", token_id) from None
            raise

    def read(self, owner_id: str, token_id: str) -> tuple[User | None, ApiToken | None, str | None]:
        """The owner and the token with its stored hash, in one request."""
        keys = [kit.key(user_pk(owner_id), PROFILE), kit.key(user_pk(owner_id), token_sk(token_id))]
        user: User | None = None
        token: ApiToken | None = None
        secret_hash: str | None = None
        for item in kit.batch_get(self.client, self.table, keys):
            if item["sk"]["S"] == PROFILE:
                user = user_of(item)
            else:
                token, secret_hash = token_of(item), text(item, "secret_hash")
        return user, token, secret_hash

    def touch(self, owner_id: str, token_id: str, now: datetime) -> None:
        """Record a use, unless a use at least as recent is recorded already (racing requests write it once)."""
        update = kit.Update().set("last_used_at", s(now.isoformat()))
        stale = (
            f"{update.exists('pk')} AND ({update.absent('last_used_at')} OR "
            f"{update.name('last_used_at')} < {update.value(s(now.isoformat()))})"
        )
        kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=kit.key(user_pk(owner_id), token_sk(token_id)),
            **update.request(stale),
        )

    def service_accounts(self) -> list[User]:
        """Every service account not deleted, by name."""
        accounts = listed_users(self.client, self.table, ("kind", UserKind.SERVICE.value))
        return sorted(accounts, key=lambda u: u.display_name.lower())
