"""The incidents table's layout under a storm, on the emulated tables through the real API handler: a repeated alert
writes only the incident's alert counter (no index, no version), the list and status index keys are spread over
shards and merged on read, the indexes carry neither tokens nor counters, alert lines expire and are sampled, and an
incident written in the layout before all this is still listed, counted and moved."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from oncall import wiring
from oncall.adapters.dynamodb.incident_items import ALERT_LINE_EVERY, ALERT_LINE_TTL, LIST_SHARDS
from tests.support.alerts import incident_metas, items, new_service, pd_body
from tests.support.identity import FakeClock, Session, login_as
from tests.support.incidents import ok
from tests.support.lambdas import call_api

START = datetime(2026, 11, 22, 2, 16, 0, tzinfo=UTC)


@pytest.fixture
def clock_start() -> datetime:
    return START


@pytest.fixture
def svc(admin: Session) -> tuple[str, str]:
    return new_service(admin, login_as("responder"))


def enqueue(body: Any) -> None:
    assert call_api("POST", "/v2/enqueue", body=json.dumps(body)).status == 202


def item(pk: str, sk: str) -> dict[str, Any] | None:
    got = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName="oncall-incidents", Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
    )
    return got.get("Item")


def collect(admin: Session, query: str = "", limit: int = 4) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(50):
        q = f"/incidents?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
        page = ok(call_api("GET", q, headers=admin.headers))
        assert len(page["items"]) <= limit
        ids += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids
    raise AssertionError("pagination did not end")


def test_a_repeated_alert_writes_only_the_counter(admin: Session, svc: tuple[str, str], clock: FakeClock) -> None:
    _, key = svc
    enqueue(pd_body("trigger", key))
    [meta] = incident_metas()
    incident_id = meta["id"]["S"]
    for _ in range(ALERT_LINE_EVERY + 1):
        clock.advance(1)
        enqueue(pd_body("trigger", key))
    [after] = incident_metas()
    assert after == meta, "the indexed incident item is untouched by repeats: no index write, no version bump"
    counter = item(f"INC#{incident_id}", "ALERTS")
    assert counter is not None and int(counter["alert_count"]["N"]) == ALERT_LINE_EVERY + 2
    shown = ok(call_api("GET", f"/incidents/{incident_id}", headers=admin.headers))
    assert shown["alert_count"] == ALERT_LINE_EVERY + 2 and shown["version"] == 1
    assert shown["last_alert_at"] == (START + timedelta(seconds=ALERT_LINE_EVERY + 1)).isoformat().replace(
        "+00:00", "Z"
    )
    lines = [i for i in items("incidents", f"INC#{incident_id}") if i.get("kind", {}).get("S") == "alert"]
    assert len(lines) == 2, "the first alert's line and one at the count's multiple of ALERT_LINE_EVERY"
    for line in lines:
        at = datetime.fromisoformat(line["at"]["S"])
        assert int(line["expires_at"]["N"]) == int((at + ALERT_LINE_TTL).timestamp())
    # once resolved, the counter says so: the same key opens a new incident instead of counting on the old one
    enqueue(pd_body("resolve", key))
    assert item(f"INC#{incident_id}", "ALERTS")["closed"] == {"BOOL": True}  # type: ignore[index]
    enqueue(pd_body("trigger", key))
    assert len(incident_metas()) == 2
    assert ok(call_api("GET", f"/incidents/{incident_id}", headers=admin.headers))["alert_count"] == 52


def test_list_and_status_keys_are_sharded_and_merged_newest_first(
    admin: Session, svc: tuple[str, str], clock: FakeClock
) -> None:
    _, key = svc
    for i in range(3 * LIST_SHARDS):
        clock.advance(1)
        enqueue(pd_body("trigger", key, dedup_key=f"k{i}"))
    metas = incident_metas()
    assert len({m["list_pk"]["S"] for m in metas}) > 1 and all(m["list_pk"]["S"] != "INC" for m in metas)
    assert {m["status_pk"]["S"].split("#")[0] for m in metas} == {"triggered"}
    newest_first = [m["id"]["S"] for m in sorted(metas, key=lambda m: m["created_sk"]["S"], reverse=True)]
    assert collect(admin) == newest_first
    assert collect(admin, "&status=triggered", 5) == newest_first
    assert collect(admin, "&status=acknowledged") == []
    ok(call_api("POST", f"/incidents/{newest_first[3]}/acknowledge", headers=admin.headers))
    assert collect(admin, "&status=acknowledged") == [newest_first[3]]
    assert collect(admin, "&status=triggered", 7) == newest_first[:3] + newest_first[4:]


def test_the_sharded_status_index_carries_no_token_and_no_counter(aws: dict[str, str]) -> None:
    table = boto3.client("dynamodb", region_name="us-east-1").describe_table(TableName="oncall-incidents")["Table"]
    [index] = [i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == "by-status-sharded"]
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    carried = set(index["Projection"]["NonKeyAttributes"])
    assert not carried & {"task_token", "alert_count", "last_alert", "last_alert_at", "version", "updated_at"}


class Backfilling:
    """DynamoDB while the deploy that adds ``by-status-sharded`` builds it: reading it is refused."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def query(self, **request: Any) -> Any:
        from botocore.exceptions import ClientError

        if request.get("IndexName") == "by-status-sharded":
            error = {"Code": "ValidationException", "Message": "Cannot read from backfilling global secondary index"}
            raise ClientError({"Error": error}, "Query")
        return self.client.query(**request)


def test_while_the_sharded_status_index_is_built_the_list_shards_answer(
    admin: Session, svc: tuple[str, str], clock: FakeClock
) -> None:
    from oncall.adapters.dynamodb.incidents import DynamoIncidentStore
    from oncall.domain.incidents import Status
    from oncall.services.incident_ports import IncidentFilter

    _, key = svc
    for i in range(5):
        clock.advance(1)
        enqueue(pd_body("trigger", key, dedup_key=f"k{i}"))
    newest_first = [m["id"]["S"] for m in sorted(incident_metas(), key=lambda m: m["created_sk"]["S"], reverse=True)]
    ok(call_api("POST", f"/incidents/{newest_first[1]}/acknowledge", headers=admin.headers))
    store = DynamoIncidentStore("oncall-incidents", Backfilling(boto3.client("dynamodb", region_name="us-east-1")))
    page, cursor = store.paginate(IncidentFilter(status=Status.TRIGGERED), 3, None)
    rest, end = store.paginate(IncidentFilter(status=Status.TRIGGERED), 3, cursor)
    assert [i.id for i in page + rest] == newest_first[:1] + newest_first[2:] and end is None
    acknowledged, _ = store.paginate(IncidentFilter(status=Status.ACKNOWLEDGED), 3, None)
    assert [i.id for i in acknowledged] == [newest_first[1]]


def in_unsharded_status_index(status: str) -> list[str]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    got = ddb.query(
        TableName="oncall-incidents",
        IndexName="by-status",
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}},
    )
    return [i["id"]["S"] for i in got["Items"]]


def test_no_incident_is_written_to_the_unsharded_status_index(
    admin: Session, svc: tuple[str, str], clock: FakeClock
) -> None:
    _, key = svc
    for i in range(3):
        clock.advance(1)
        enqueue(pd_body("trigger", key, dedup_key=f"k{i}"))
    metas = incident_metas()
    ok(call_api("POST", f"/incidents/{metas[0]['id']['S']}/acknowledge", headers=admin.headers))
    assert len(metas) == 3 and all("status" not in m for m in incident_metas())
    assert in_unsharded_status_index("triggered") == in_unsharded_status_index("acknowledged") == []


def legacy_incident(incident_id: str, service_id: str, created: datetime, alert_count: int) -> dict[str, Any]:
    """An incident as the layout before the counter and the shards wrote it."""
    return {
        "pk": {"S": f"INC#{incident_id}"},
        "sk": {"S": "META"},
        "id": {"S": incident_id},
        "title": {"S": "Disk full on db-1"},
        "service_id": {"S": service_id},
        "severity": {"S": "high"},
        "source": {"S": "pagerduty-events"},
        "status": {"S": "triggered"},
        "created_at": {"S": created.isoformat()},
        "updated_at": {"S": created.isoformat()},
        "alert_count": {"N": str(alert_count)},
        "version": {"N": "1"},
        "generation": {"N": "1"},
        "escalation_step": {"N": "0"},
        "escalation_level": {"N": "1"},
        "exhausted": {"BOOL": False},
        "cycle": {"N": "0"},
        "list_pk": {"S": "INC"},
        "created_sk": {"S": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + f"#{incident_id}"},
    }


def test_an_incident_of_the_old_layout_is_listed_counted_and_moved(
    admin: Session, svc: tuple[str, str], clock: FakeClock
) -> None:
    service_id, key = svc
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    old_id = "01legacyincident0000000000"
    ddb.put_item(TableName="oncall-incidents", Item=legacy_incident(old_id, service_id, START, alert_count=7))
    clock.advance(60)
    enqueue(pd_body("trigger", key))
    new_id = next(m["id"]["S"] for m in incident_metas() if m["id"]["S"] != old_id)
    assert collect(admin, limit=1) == [new_id, old_id]
    assert collect(admin, "&status=triggered", 1) == [new_id, old_id]
    assert collect(admin, f"&service_id={service_id}", 1) == [new_id, old_id]

    assert collect(admin, f"&service_id={service_id}&status=triggered", 1) == [new_id, old_id]
    assert in_unsharded_status_index("triggered") == [old_id]

    # its alerts still count on it (on META, as before), atomically with the status check; its lifecycle arms it
    from oncall.domain.incidents import Status

    store = wiring.incidents.incident_service().store
    assert store.attach_alert(old_id, START + timedelta(minutes=2), []) is True
    assert ok(call_api("GET", f"/incidents/{old_id}", headers=admin.headers))["alert_count"] == 8
    assert store.arm(old_id, generation=1, status=Status.TRIGGERED, step=0, token="tok") is True
    assert store.arm(old_id, generation=1, status=Status.ACKNOWLEDGED, step=None, token="tok") is False

    # its next move rewrites it in the sharded layout; once resolved, alerts no longer count on it
    ok(call_api("POST", f"/incidents/{old_id}/resolve", headers=admin.headers))
    meta = item(f"INC#{old_id}", "META")
    assert meta is not None and meta["list_pk"]["S"].startswith("INC#") and meta["status_pk"]["S"].startswith("res")
    assert meta["incident_status"]["S"] == "resolved" and "status" not in meta
    assert in_unsharded_status_index("triggered") == in_unsharded_status_index("resolved") == []
    assert store.attach_alert(old_id, START + timedelta(minutes=3), []) is False
    assert collect(admin, "&status=resolved") == [old_id]
    assert collect(admin, limit=1) == [new_id, old_id]


def test_page_references_are_found_however_long_the_timeline(aws: dict[str, str]) -> None:
    from oncall.adapters.dynamodb.incident_items import entry_item
    from oncall.adapters.dynamodb.incidents import LEGACY_PAGE_SCAN
    from oncall.domain.incidents import TimelineEntry

    store = wiring.incidents.incident_service().store

    def line(incident_id: str, i: int, kind: str = "note", **data: Any) -> TimelineEntry:
        at = START + timedelta(seconds=i)
        return TimelineEntry(incident_id, f"01line{i:020d}", at, kind, f"{kind} {i}", data=data)

    notes = [line("inc1", i) for i in range(LEGACY_PAGE_SCAN + 100)]
    for start in range(0, len(notes), 100):
        store.add_entries(notes[start : start + 100])
    page = line("inc1", LEGACY_PAGE_SCAN + 200, "page", ref="tg:42:7", generation=1, cycle=0)
    unsent = line("inc1", LEGACY_PAGE_SCAN + 201, "page", status="failed", generation=1, cycle=0)
    store.add_entries([page, unsent])
    assert store.page_entries("inc1") == [page], "past the first 500 lines, one Query, only pages with a message"

    # pages written before their copies existed are still found among the timeline's first lines
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    old = line("inc2", 1, "page", ref="tg:42:8", generation=1, cycle=0)
    ddb.put_item(TableName="oncall-incidents", Item=entry_item(old))
    assert store.page_entries("inc2") == [old]
