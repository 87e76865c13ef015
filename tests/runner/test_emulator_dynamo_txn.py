"""The emulator's transactions (``infra.local.dynamo_txn``): a cancelled or refused ``TransactWriteItems`` leaves
every item and the table's stream exactly as they were, a committed one writes everything, and none of them copies
the tables it names (what made each transaction cost as much as everything stored)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.local import dynamo_lock

TABLE = "txn"
STORED = 300


@pytest.fixture
def ddb(aws: dict[str, str]) -> Iterator[Any]:
    already = dynamo_lock.installed()
    dynamo_lock.install()
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(
                TableName=TABLE,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )
            for n in range(STORED):
                client.put_item(TableName=TABLE, Item={"pk": {"S": "bulk"}, "sk": {"S": f"{n:04}"}})
            client.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"N": "1"}})
            client.put_item(TableName=TABLE, Item={"pk": {"S": "b"}, "sk": {"S": "1"}, "v": {"N": "1"}})
            yield client
    finally:
        if not already:
            dynamo_lock.uninstall()


def _state(client: Any) -> tuple[list[dict[str, Any]], int]:
    from moto.dynamodb.models import dynamodb_backends

    items = client.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    table = dynamodb_backends["123456789012"]["us-east-1"].tables[TABLE]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"])), len(table.stream_shard.items)


def _ops(last: dict[str, Any]) -> list[dict[str, Any]]:
    """A new item, an update of a, a delete of b, then ``last``."""
    return [
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
        {
            "Update": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                "UpdateExpression": "SET v = v + :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "b"}, "sk": {"S": "1"}}}},
        last,
    ]


REFUSALS = {
    "a condition fails": (
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "bulk"}, "sk": {"S": "0000"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        "TransactionCanceledException",
    ),
    "an update is invalid": (
        {
            "Update": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "bulk"}, "sk": {"S": "0001"}},
                "UpdateExpression": "ADD sk :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        None,
    ),
    "a key is named twice": (
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
        None,
    ),
}


@pytest.mark.parametrize("why", list(REFUSALS))
def test_a_refused_transaction_leaves_every_item_and_the_stream_as_they_were(ddb: Any, why: str) -> None:
    last, code = REFUSALS[why]
    before = _state(ddb)
    with pytest.raises(ddb.exceptions.ClientError) as refused:
        ddb.transact_write_items(TransactItems=_ops(last))
    if code:
        assert refused.value.response["Error"]["Code"] == code
    assert _state(ddb) == before


def test_a_committed_transaction_writes_everything_and_streams_each_change(ddb: Any) -> None:
    items, records = _state(ddb)
    ddb.transact_write_items(
        TransactItems=_ops(
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "bulk"}, "sk": {"S": "0002"}, "x": {"S": "y"}}}}
        )
    )
    after, after_records = _state(ddb)
    by_key = {(i["pk"]["S"], i["sk"]["S"]): i for i in after}
    assert ("new", "1") in by_key and ("b", "1") not in by_key
    assert by_key[("a", "1")]["v"] == {"N": "2"} and by_key[("bulk", "0002")]["x"] == {"S": "y"}
    assert len(after) == len(items) and after_records == records + 4


def test_a_transaction_copies_only_the_items_it_names(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.dynamo_type import Item

    copies: list[Any] = []
    real = Item.__deepcopy__

    def counted(self: Any, memo: Any) -> Any:
        copies.append(self)
        return real(self, memo)

    monkeypatch.setattr(Item, "__deepcopy__", counted)
    with pytest.raises(ddb.exceptions.ClientError):
        ddb.transact_write_items(TransactItems=_ops(REFUSALS["a condition fails"][0]))
    holds = {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": {"pk": {"S": "bulk"}, "sk": {"S": "0000"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }
    ddb.transact_write_items(TransactItems=_ops(holds))
    # the four named items each time (and moto's own copy of the updated one), never the 300 others stored
    assert 0 < len(copies) <= 2 * 5, len(copies)
