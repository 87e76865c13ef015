"""SMS state in the ``notifications`` table: a person's number (verified, or waiting for its code), the hourly cost
caps, and the acknowledgement links' records.

=========================  ======================  ==================================================================
pk                         sk                      item / access pattern
=========================  ======================  ==================================================================
``PERSON#<user>``          ``SMSVERIFY``           a number waiting for its code: the number, the code's hash,
                                                   attempts, the code's expiry (``code_expires_at``, 15 minutes);
                                                   kept a day longer (TTL) to say the code expired.
``PERSON#<user>``          ``CHANNEL#sms``         the verified number (``address``: ``<number>/<user>``, so the
                                                   channel knows whom an ack link acts for); read with the person's
                                                   rules and flags by the recipient directory's one Query.
``SMSCAP#<hour>``          ``<scope>``             SMS sent in that UTC hour (``ALL``, or ``NUM#<sha256>`` per
                                                   number): ``ADD n :1`` on ``n < :cap``. 2 days.
``SMSACK#<sha256(nonce)>`` ``LINK``                an ack link: person, incident, expiry, ``used``; consumed by one
                                                   conditional update. TTL a day after expiry.
=========================  ======================  ==================================================================
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import n, s
from oncall.domain.sms import EXPIRED_CODE_SHOWN

VERIFY_SK = "SMSVERIFY"
CHANNEL_SK = "CHANNEL#sms"
CODE_TTL = timedelta(minutes=15)


@dataclass(frozen=True)
class Pending:
    number: str
    code_hash: str
    attempts: int
    expires_at: int


@dataclass(frozen=True)
class AckLink:
    user_id: str
    incident_id: str
    expires_at: int
    used: bool


def code_expiry(item: dict[str, Any]) -> int:
    """When a waiting number's code expires; an item written before the code had its own attribute expired with it."""
    return int((item.get("code_expires_at") or item["expires_at"])["N"])


def _person(user_id: str, sk: str) -> dict[str, Any]:
    return kit.key(f"PERSON#{user_id}", sk)


class DynamoSmsStore:
    """Implements the SMS service's and the SMS channel's stores (``oncall.services.sms``)."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()

    # -- numbers ---------------------------------------------------------------------------------------------------

    def start(self, user_id: str, number: str, code_hash: str, now: datetime) -> None:
        expires = int((now + CODE_TTL).timestamp())
        self.client.put_item(
            TableName=self.table,
            Item={
                **_person(user_id, VERIFY_SK),
                "number": s(number),
                "code_hash": s(code_hash),
                "attempts": n(0),
                "code_expires_at": n(expires),
                # the item outlives its code, so "your code expired" can be said (oncall.domain.sms.code_state)
                "expires_at": n(expires + int(EXPIRED_CODE_SHOWN.total_seconds())),
            },
        )

    def pending(self, user_id: str) -> Pending | None:
        item = self.client.get_item(TableName=self.table, Key=_person(user_id, VERIFY_SK), ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return None
        return Pending(
            number=item["number"]["S"],
            code_hash=item["code_hash"]["S"],
            attempts=int(item["attempts"]["N"]),
            expires_at=code_expiry(item),
        )

    def failed_attempt(self, user_id: str) -> None:
        kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=_person(user_id, VERIFY_SK),
            UpdateExpression="ADD attempts :one",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":one": n(1)},
        )

    def confirm(self, user_id: str, number: str, now: datetime) -> None:
        """The number is the person's from now on: one transaction stores it, drops the pending code and lifts an
        opt-out flag (verifying again is how a person who opted back in gets SMS again)."""
        kit.transact(
            self.client,
            [
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {
                            **_person(user_id, CHANNEL_SK),
                            "address": s(f"{number}/{user_id}"),
                            "verified_at": s(now.isoformat()),
                        },
                    }
                },
                {"Delete": {"TableName": self.table, "Key": _person(user_id, VERIFY_SK)}},
                {"Delete": {"TableName": self.table, "Key": _person(user_id, "FLAG#sms")}},
            ],
        )

    def remove(self, user_id: str) -> None:
        for sk in (CHANNEL_SK, VERIFY_SK):
            self.client.delete_item(TableName=self.table, Key=_person(user_id, sk))

    def number_of(self, user_id: str) -> str | None:
        item = self.client.get_item(TableName=self.table, Key=_person(user_id, CHANNEL_SK), ConsistentRead=True).get(
            "Item"
        )
        return item["address"]["S"].split("/", 1)[0] if item else None

    # -- cost caps -------------------------------------------------------------------------------------------------

    def take(self, number: str, per_number: int, overall: int, now: datetime) -> str | None:
        """Count one SMS against this hour's caps (the number's and everyone's, in one transaction); the cap that
        was full, or None when the SMS may go."""
        hour = now.strftime("%Y%m%d%H")
        expires = n(int((now + timedelta(days=2)).timestamp()))
        digest = hashlib.sha256(number.encode()).hexdigest()[:32]
        items = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": kit.key(f"SMSCAP#{hour}", scope),
                    "UpdateExpression": "ADD n :one SET expires_at = :exp",
                    "ConditionExpression": "attribute_not_exists(n) OR n < :cap",
                    "ExpressionAttributeValues": {":one": n(1), ":cap": n(cap), ":exp": expires},
                }
            }
            for scope, cap in ((f"NUM#{digest}", per_number), ("ALL", overall))
        ]
        try:
            kit.transact(self.client, items)
        except kit.Cancelled as exc:
            return "per_person" if exc.condition_failed(0, 1) else "global"
        return None

    # -- ack links -------------------------------------------------------------------------------------------------

    def put_link(self, digest: str, user_id: str, incident_id: str, expires_at: int) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                **kit.key(f"SMSACK#{digest}", "LINK"),
                "user_id": s(user_id),
                "incident_id": s(incident_id),
                "link_expires": n(expires_at),
                "used": kit.boolean(False),
                "expires_at": n(expires_at + 86_400),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def link(self, digest: str) -> AckLink | None:
        item = self.client.get_item(
            TableName=self.table, Key=kit.key(f"SMSACK#{digest}", "LINK"), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return AckLink(
            user_id=item["user_id"]["S"],
            incident_id=item["incident_id"]["S"],
            expires_at=int(item["link_expires"]["N"]),
            used=bool(item["used"]["BOOL"]),
        )

    def use_link(self, digest: str, now: datetime) -> AckLink | None:
        """Consume the link: the record when it was unused and unexpired (and is used from now on), else None."""
        done = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=kit.key(f"SMSACK#{digest}", "LINK"),
            UpdateExpression="SET used = :yes, used_at = :at",
            ConditionExpression="attribute_exists(pk) AND used = :no AND link_expires > :now",
            ExpressionAttributeValues={
                ":yes": kit.boolean(True),
                ":no": kit.boolean(False),
                ":now": n(int(now.timestamp())),
                ":at": s(now.isoformat()),
            },
            ReturnValues="ALL_NEW",
        )
        if done is None:
            return None
        item = done["Attributes"]
        return AckLink(item["user_id"]["S"], item["incident_id"]["S"], int(item["link_expires"]["N"]), True)
