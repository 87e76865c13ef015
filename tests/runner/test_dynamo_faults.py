"""DynamoDB's per-partition limit in the emulator (``infra.local.dynamo_faults``): a key over its scaled budget is
refused as AWS refuses it, index keys included, and what is under it passes; on moto in-process, a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from infra.local.faults import Faults

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class ManualClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ddb(clock: ManualClock) -> Iterator[tuple[Any, Faults]]:
    faults = Faults(now=clock)
    with mock_aws():
        client = boto3.client(
            "dynamodb", region_name="us-east-1", config=Config(retries={"mode": "standard", "max_attempts": 1})
        )
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "status", "created")
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-status",
                    "KeySchema": [
                        {"AttributeName": "status", "KeyType": "HASH"},
                        {"AttributeName": "created", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        try:
            yield client, faults
        finally:
            faults.clear()


def _code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def test_a_key_over_its_write_budget_is_refused_and_refills(ddb: tuple[Any, Faults], clock: ManualClock) -> None:
    client, faults = ddb
    throttle = faults.throttle_partitions(write_per_second=3, burst_seconds=1)
    for i in range(3):
        client.put_item(TableName="t", Item={"pk": {"S": "hot"}, "sk": {"S": str(i)}})
    with pytest.raises(ClientError) as refused:
        client.put_item(TableName="t", Item={"pk": {"S": "hot"}, "sk": {"S": "x"}})
    assert _code(refused.value) == "ProvisionedThroughputExceededException"
    assert "x" not in {i["sk"]["S"] for i in client.scan(TableName="t")["Items"]}, "a refused write wrote nothing"
    refused_before = throttle.refused["write:PutItem"]
    assert refused_before >= 1
    client.put_item(TableName="t", Item={"pk": {"S": "cold"}, "sk": {"S": "1"}})  # another key has its own budget
    clock.t += 1.0
    client.put_item(TableName="t", Item={"pk": {"S": "hot"}, "sk": {"S": "x"}})
    assert throttle.refused["write:PutItem"] == refused_before


def test_an_item_over_one_kb_costs_one_unit_per_started_kb(ddb: tuple[Any, Faults]) -> None:
    client, faults = ddb
    faults.throttle_partitions(write_per_second=4, burst_seconds=1)
    big = {"pk": {"S": "k"}, "sk": {"S": "1"}, "blob": {"S": "x" * 2500}}  # 3 KB started: 3 WRU
    client.put_item(TableName="t", Item=big)
    with pytest.raises(ClientError):
        client.put_item(TableName="t", Item={**big, "sk": {"S": "2"}})
    client.put_item(TableName="t", Item={"pk": {"S": "k"}, "sk": {"S": "3"}})  # 1 WRU still there


def test_index_keys_are_charged_and_a_transaction_is_cancelled_with_throttling_error(ddb: tuple[Any, Faults]) -> None:
    client, faults = ddb
    throttle = faults.throttle_partitions(write_per_second=4, burst_seconds=1)
    for i in range(2):  # distinct base keys, one status key: 2 × 2 WRU of transaction on by-status "triggered"
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": "t",
                        "Item": {
                            "pk": {"S": f"inc{i}"},
                            "sk": {"S": "META"},
                            "status": {"S": "triggered"},
                            "created": {"S": str(i)},
                        },
                    }
                }
            ]
        )
    with pytest.raises(ClientError) as refused:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "other"}, "sk": {"S": "x"}}}},
                {
                    "Put": {
                        "TableName": "t",
                        "Item": {
                            "pk": {"S": "inc9"},
                            "sk": {"S": "META"},
                            "status": {"S": "triggered"},
                            "created": {"S": "9"},
                        },
                    }
                },
            ]
        )
    assert _code(refused.value) == "TransactionCanceledException"
    assert [r["Code"] for r in refused.value.response["CancellationReasons"]] == ["None", "ThrottlingError"]
    # an update that changes no attribute the index holds does not write to it
    client.update_item(
        TableName="t",
        Key={"pk": {"S": "inc0"}, "sk": {"S": "META"}},
        UpdateExpression="SET #c = :n",
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={":n": {"N": "2"}},
    )
    assert throttle.charged_write[("t", "by-status", "triggered")] == 4.0


def test_reads_in_debt_are_refused(ddb: tuple[Any, Faults], clock: ManualClock) -> None:
    client, faults = ddb
    faults.throttle_partitions(write_per_second=100, read_per_second=1, burst_seconds=1)
    client.put_item(TableName="t", Item={"pk": {"S": "k"}, "sk": {"S": "1"}, "blob": {"S": "x" * 9000}})
    client.query(TableName="t", KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": {"S": "k"}})
    with pytest.raises(ClientError) as refused:
        client.get_item(TableName="t", Key={"pk": {"S": "k"}, "sk": {"S": "1"}})
    assert _code(refused.value) == "ProvisionedThroughputExceededException"
    clock.t += 5.0
    client.get_item(TableName="t", Key={"pk": {"S": "k"}, "sk": {"S": "1"}})


def test_cleared_faults_throttle_nothing(ddb: tuple[Any, Faults]) -> None:
    client, faults = ddb
    faults.throttle_partitions(write_per_second=0, burst_seconds=0)
    faults.clear()
    for i in range(5):
        client.put_item(TableName="t", Item={"pk": {"S": "hot"}, "sk": {"S": str(i)}})
    assert faults.describe()["dynamodb"] is None


def test_the_kit_sends_a_transaction_cancelled_for_capacity_again(ddb: tuple[Any, Faults]) -> None:
    """No SDK retry mode retries a cancelled transaction, so a hot key would reach the caller (a 5xx at the API)."""
    from oncall.adapters.dynamodb import kit

    client, faults = ddb
    throttle = faults.throttle_partitions(write_per_second=0, burst_seconds=0)
    throttle._now = _RealTime()  # refills with the time the kit's back-off takes
    throttle.write_per_second = 8.0
    throttle.burst_seconds = 0.5  # 4 WRU: two one-item transactions on a key, then a pause
    for i in range(4):
        kit.transact(client, [{"Put": {"TableName": "t", "Item": {"pk": {"S": "hot"}, "sk": {"S": str(i)}}}}])
    assert throttle.refused["write:TransactWriteItems"] >= 1, "the key was over its budget"
    assert (
        len(
            client.query(
                TableName="t", KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": {"S": "hot"}}
            )["Items"]
        )
        == 4
    )


def test_the_kit_sends_a_conditional_write_refused_for_capacity_again(ddb: tuple[Any, Faults]) -> None:
    """The SDK's standard mode gives up after 3 retries (a few seconds); a storm's hot key can stay refused longer,
    and an alert refused as a 5xx comes back whole from its source: the kit keeps sending within its budget."""
    from oncall.adapters.dynamodb import kit

    client, faults = ddb  # this client retries nothing itself: every refusal reaches the kit
    throttle = faults.throttle_partitions(write_per_second=0, burst_seconds=0)
    throttle._now = _RealTime()
    throttle.write_per_second = 6.0
    throttle.burst_seconds = 0.5  # 3 WRU, then 6 a second
    for i in range(8):
        written = kit.try_write(
            client.put_item,
            TableName="t",
            Item={"pk": {"S": "hot"}, "sk": {"S": str(i)}},
            ConditionExpression="attribute_not_exists(pk)",
        )
        assert written is not None
    assert throttle.refused["write:PutItem"] >= 1, "the key was over its budget"
    assert (
        kit.try_write(
            client.put_item,
            TableName="t",
            Item={"pk": {"S": "hot"}, "sk": {"S": "0"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
        is None
    ), "a failed condition is still an answer, not a retry"


def test_a_write_still_refused_after_the_budget_raises_and_the_api_answers_503(
    ddb: tuple[Any, Faults], monkeypatch: pytest.MonkeyPatch
) -> None:
    from oncall.adapters.dynamodb import kit
    from oncall.api.errors import refused_for_capacity

    client, faults = ddb
    faults.throttle_partitions(write_per_second=1, burst_seconds=1)  # the manual clock stands still: no refill
    client.put_item(TableName="t", Item={"pk": {"S": "hot"}, "sk": {"S": "0"}})  # spends the key's one unit
    monkeypatch.setattr(kit, "THROTTLE_BUDGET_S", 0.3)
    with pytest.raises(ClientError) as single:
        kit.try_write(client.put_item, TableName="t", Item={"pk": {"S": "hot"}, "sk": {"S": "1"}})
    with pytest.raises(kit.Cancelled) as cancelled:
        kit.transact(client, [{"Put": {"TableName": "t", "Item": {"pk": {"S": "hot"}, "sk": {"S": "2"}}}}])
    assert refused_for_capacity(single.value) and refused_for_capacity(cancelled.value)
    assert not refused_for_capacity(kit.Cancelled(["ConditionalCheckFailed", "ThrottlingError"]))
    assert [i["sk"]["S"] for i in client.scan(TableName="t")["Items"]] == ["0"], "nothing more was written"


class _RealTime:
    def __call__(self) -> float:
        import time

        return time.monotonic()


def test_the_runner_control_api_switches_faults_on_and_off() -> None:
    import json

    from infra.local.control import LocalControl
    from infra.local.faults import FAULTS

    control = LocalControl(bot=None)  # type: ignore[arg-type]  # the faults endpoint needs no bot
    body = {
        "dynamodb": {"write_units_per_second": 30, "burst_seconds": 2},
        "start_execution": {"per_second": 1, "burst": 2},
        "fail_task": [{"function": "escalation", "action": "plan", "error": "PlanBroken", "times": 3}],
    }
    try:
        status, _, answer = control.handle("POST", "/_local/faults", json.dumps(body).encode())
        described = json.loads(answer)
        assert status == 200
        assert described["dynamodb"]["read_units_per_second"] == 90.0  # 3,000 RRU for 1,000 WRU, scaled alike
        assert described["start_execution"] == {"per_second": 1.0, "burst": 2}
        assert described["fail_task"][0]["remaining"] == 3
        assert control.handle("POST", "/_local/faults", b'{"dynamodb": {}}')[0] == 422
        status, _, answer = control.handle("DELETE", "/_local/faults", b"")
        assert json.loads(answer)["dynamodb"] is None and json.loads(answer)["fail_task"] == []
    finally:
        FAULTS.clear()
