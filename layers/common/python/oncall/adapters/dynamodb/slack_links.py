"""Slack accounts linked to people, and the Slack app's memory of requests it has handled, in the ``notifications``
table (beside the person's channel flags and rules, so the recipient directory's one Query of the person's partition
finds their Slack address too: ``oncall.adapters.dynamodb.notification_rules.person_state``).

=========================  ======================  ==================================================================
pk                         sk                      item / access pattern
=========================  ======================  ==================================================================
``PERSON#<user>``          ``CHANNEL#slack``       the person's Slack user id and the direct-message conversation
                                                   pages go to (``address``). No expiry.
``SLACKUSER#<slack user>`` ``LINK``                which person a Slack user is: read on every command and press.
                                                   Written with the item above in one transaction, each conditional
                                                   on not naming someone else, so a Slack user links one person and a
                                                   person one Slack user. No expiry.
``SLACKREQ#<sha256>``      ``SEEN``                a signed request already handled (the SHA-256 of its signature):
                                                   a replay within the signature's 5 minutes is a no-op. 1 hour.
=========================  ======================  ==================================================================
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.identity import listed_users
from oncall.adapters.dynamodb.kit import n, s
from oncall.domain.users import User

SLACK_SK = "CHANNEL#slack"
LINK_SK = "LINK"
SEEN_TTL = timedelta(hours=1)


def _person(user_id: str) -> dict[str, Any]:
    return kit.key(f"PERSON#{user_id}", SLACK_SK)


def _slack(slack_user: str) -> dict[str, Any]:
    return kit.key(f"SLACKUSER#{slack_user}", LINK_SK)


class DynamoSlackLinks:
    """Implements ``oncall.services.slack_app.Links`` and ``Ledger``."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()

    def person_of(self, slack_user: str) -> str | None:
        item = self.client.get_item(TableName=self.table, Key=_slack(slack_user), ConsistentRead=True).get("Item")
        return kit.text(item, "user_id") if item else None

    def link(self, user_id: str, slack_user: str, conversation: str, now: datetime) -> bool:
        """Link ``slack_user`` (pages to ``conversation``) to the person; False when either is linked to another."""
        at = s(now.isoformat())
        try:
            kit.transact(
                self.client,
                [
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": {
                                **_person(user_id),
                                "address": s(conversation),
                                "slack_user": s(slack_user),
                                "linked_at": at,
                            },
                            "ConditionExpression": "attribute_not_exists(pk) OR slack_user = :me",
                            "ExpressionAttributeValues": {":me": s(slack_user)},
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": {**_slack(slack_user), "user_id": s(user_id), "linked_at": at},
                            "ConditionExpression": "attribute_not_exists(pk) OR user_id = :who",
                            "ExpressionAttributeValues": {":who": s(user_id)},
                        }
                    },
                ],
            )
        except kit.Cancelled:
            return False
        return True

    def unlink(self, user_id: str, slack_user: str) -> bool:
        try:
            kit.transact(
                self.client,
                [
                    {
                        "Delete": {
                            "TableName": self.table,
                            "Key": _person(user_id),
                            "ConditionExpression": "slack_user = :me",
                            "ExpressionAttributeValues": {":me": s(slack_user)},
                        }
                    },
                    {
                        "Delete": {
                            "TableName": self.table,
                            "Key": _slack(slack_user),
                            "ConditionExpression": "user_id = :who",
                            "ExpressionAttributeValues": {":who": s(user_id)},
                        }
                    },
                ],
            )
        except kit.Cancelled:
            return False
        return True

    def first_time(self, signature: str, now: datetime) -> bool:
        digest = hashlib.sha256(signature.encode()).hexdigest()
        seen = kit.try_write(
            self.client.put_item,
            TableName=self.table,
            Item={
                **kit.key(f"SLACKREQ#{digest}", "SEEN"),
                "at": s(now.isoformat()),
                "expires_at": n(int((now + SEEN_TTL).timestamp())),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return seen is not None


class DynamoSlackPeople:
    """Implements ``oncall.services.slack_app.People``: a person by id, and people by email for linking (over the
    user list, people number in the hundreds, read once per ``/oncall link``)."""

    def __init__(self, users_table: str, client: Any = None) -> None:
        self.table = users_table
        self.client = client if client is not None else kit.client()

    def get(self, user_id: str) -> User | None:
        from oncall.adapters.dynamodb.identity import PROFILE, user_of, user_pk

        item = self.client.get_item(TableName=self.table, Key=kit.key(user_pk(user_id), PROFILE)).get("Item")
        return user_of(item) if item else None

    def by_email(self, email: str) -> list[User]:
        wanted = email.strip().lower()
        return [u for u in listed_users(self.client, self.table) if u.email and u.email.strip().lower() == wanted]
