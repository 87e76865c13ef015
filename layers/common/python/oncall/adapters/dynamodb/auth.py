"""Identity's ``auth`` table (declared in ``infra/topology.py``): refresh-token families and tokens, and failed-login
counters. Every item expires (TTL ``expires_at``):

=============================  ==========  ================================================================
pk                             sk          item
=============================  ==========  ================================================================
``FAMILY#<sid>``               ``FAMILY``  a refresh-token family (one login); ``revoked_at`` once revoked.
``REFRESH#<jti>``              ``TOKEN``   one refresh token: state active/rotated, successor for the grace.
``LOGINFAIL#user#<name>``      window      failed-login counter per username per window (ADD ``failures``).
``LOGINFAIL#ip#<address>``     window      failed-login counter per source IP per window.
=============================  ==========  ================================================================

A rotation is one ``TransactWriteItems`` with conditions (the old token still active, its family not revoked), so
two Lambdas rotating the same token cannot both win; a token's state is read strongly consistently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import Item, n, s, text
from oncall.domain.tokens import RefreshRecord, RefreshState

FAMILY = "FAMILY"
TOKEN = "TOKEN"  # noqa: S105 (a sort key, not a credential)


def family_pk(sid: str) -> str:
    return f"FAMILY#{sid}"


def refresh_pk(jti: str) -> str:
    return f"REFRESH#{jti}"


class DynamoSessionStore:
    """Refresh-token families and tokens (table ``auth``). Implements
    ``oncall.services.identity_ports.SessionStore``."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()

    def _get(self, pk: str, sk: str) -> Item | None:
        item: Item | None = self.client.get_item(TableName=self.table, Key=kit.key(pk, sk), ConsistentRead=True).get(
            "Item"
        )
        return item

    def _token_item(self, jti: str, family_id: str, user_id: str, expires_at: int) -> Item:
        return {
            **kit.key(refresh_pk(jti), TOKEN),
            "family_id": s(family_id),
            "user_id": s(user_id),
            "state": s(RefreshState.ACTIVE.value),
            "expires_at": n(expires_at),
        }

    def start_family(self, sid: str, user_id: str, first_jti: str, now: datetime, expires_at: int) -> None:
        family = {
            **kit.key(family_pk(sid), FAMILY),
            "user_id": s(user_id),
            "created_at": s(now.isoformat()),
            "expires_at": n(expires_at),
        }
        token = self._token_item(first_jti, sid, user_id, expires_at)
        kit.transact(
            self.client,
            [
                {"Put": {"TableName": self.table, "Item": family, **kit.if_absent()}},
                {"Put": {"TableName": self.table, "Item": token, **kit.if_absent()}},
            ],
        )

    def get_token(self, jti: str) -> RefreshRecord | None:
        item = self._get(refresh_pk(jti), TOKEN)
        if item is None:
            return None
        rotated_at = text(item, "rotated_at")
        return RefreshRecord(
            jti=jti,
            family_id=item["family_id"]["S"],
            user_id=item["user_id"]["S"],
            state=RefreshState(item["state"]["S"]),
            rotated_at=datetime.fromisoformat(rotated_at) if rotated_at else None,
            successor_jti=text(item, "successor_jti"),
            successor_iat=kit.number(item, "successor_iat"),
        )

    def family_revoked(self, sid: str) -> bool:
        item = self._get(family_pk(sid), FAMILY)
        return item is None or "revoked_at" in item

    def rotate(self, old: RefreshRecord, new_jti: str, new_iat: int, now: datetime, expires_at: int) -> bool:
        """Retire ``old`` and store its successor in one transaction, on condition that ``old`` is still active and
        its family alive. False when a condition failed: the caller re-reads to learn which."""
        retire = (
            kit.Update()
            .set("state", s(RefreshState.ROTATED.value))
            .set("rotated_at", s(now.isoformat()))
            .set("successor_jti", s(new_jti))
            .set("successor_iat", n(new_iat))
        )
        alive = kit.Update()
        try:
            kit.transact(
                self.client,
                [
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": kit.key(refresh_pk(old.jti), TOKEN),
                            **retire.request(retire.equals("state", s(RefreshState.ACTIVE.value))),
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": self._token_item(new_jti, old.family_id, old.user_id, expires_at),
                            **kit.if_absent(),
                        }
                    },
                    {
                        "ConditionCheck": {
                            "TableName": self.table,
                            "Key": kit.key(family_pk(old.family_id), FAMILY),
                            "ConditionExpression": alive.absent("revoked_at"),
                            **alive.placeholders(),
                        }
                    },
                ],
            )
        except kit.Cancelled as exc:
            if exc.condition_failed():
                return False
            raise
        return True

    def revoke_family(self, sid: str, now: datetime) -> None:
        update = kit.Update().set("revoked_at", s(now.isoformat()))
        # unknown or already revoked: nothing to do
        kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=kit.key(family_pk(sid), FAMILY),
            **update.request(f"{update.exists('pk')} AND {update.absent('revoked_at')}"),
        )


class DynamoLoginCounters:
    """Fixed-window failed-login counters (table ``auth``), one item per key and window, expiring with it.
    Implements ``oncall.services.identity_ports.LoginCounters``."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()

    def counts(self, keys: list[str], window: int) -> dict[str, int]:
        found = dict.fromkeys(keys, 0)
        for item in kit.batch_get(self.client, self.table, [kit.key(k, str(window)) for k in dict.fromkeys(keys)]):
            found[item["pk"]["S"]] = kit.number(item, "failures", 0) or 0
        return found

    def record_failure(self, keys: list[str], window: int, expires_at: int) -> None:
        for counter in keys:
            update = kit.Update().add("failures", n(1)).set("expires_at", n(expires_at))
            self.client.update_item(TableName=self.table, Key=kit.key(counter, str(window)), **update.request())

    def clear(self, key: str, window: int) -> None:
        self.client.delete_item(TableName=self.table, Key=kit.key(key, str(window)))
