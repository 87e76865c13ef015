"""Traces for real: a function run the way Lambda runs it with active tracing (a trace header in
``_X_AMZN_TRACE_ID``, tracing not disabled) sends its subsegments to an X-Ray daemon address, here a UDP socket this
test listens on, as the daemon would. The stats function handling an ``incident.triggered`` event must report its
handler with the incident and service annotations, and a subsegment for each DynamoDB call it makes.

In a separate interpreter: the tracer patches botocore for the whole process, which the other tests must not see."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = r"""
import json, sys
sys.path[:0] = [{root!r}, {layer!r}, {code!r}]
import tests.conftest  # test credentials and region (it turns tracing off for the other tests: on again here)
import os
os.environ["POWERTOOLS_TRACE_DISABLED"] = "false"
import boto3
from moto import mock_aws
from infra.local.context import LambdaContext
from infra.local.resources import create_tables, function_environment
from infra.topology import TOPOLOGY
with mock_aws():
    create_tables(boto3.client("dynamodb", region_name="us-east-1"))
    os.environ.update(function_environment(TOPOLOGY.function("stats")))
    from handler import handler
    snapshot = {{"id": "01TRACEDINCIDENT", "version": 1, "service_id": "svc-traced", "severity": "high",
                 "status": "triggered", "created_at": "2026-12-07T10:00:00+00:00", "team_id": "default"}}
    event = {{"version": "0", "id": "e1", "detail-type": "incident.triggered", "source": "oncall",
              "detail": snapshot, "time": "2026-12-07T10:00:00Z"}}
    print(json.dumps(handler(event, LambdaContext(function_name="oncall-stats"))))
"""


def test_a_traced_function_reports_its_dynamodb_calls_and_the_incident() -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(0.5)
    port = daemon.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "ONCALL_"))},
        "AWS_LAMBDA_FUNCTION_NAME": "oncall-stats",
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "stats"),
        "POWERTOOLS_TRACE_DISABLED": "false",
        "POWERTOOLS_SERVICE_NAME": "oncall-stats",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{port}",
        "_X_AMZN_TRACE_ID": "Root=1-67560000-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1",
    }
    program = PROGRAM.format(
        root=str(ROOT), layer=str(ROOT / "layers" / "common" / "python"), code=str(ROOT / "functions" / "stats")
    )
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"outcome": "applied"}

    documents = []
    try:
        while True:
            header, _, body = daemon.recv(65536).decode().partition("\n")
            assert json.loads(header) == {"format": "json", "version": 1}
            documents.append(json.loads(body))
    except TimeoutError:
        pass
    finally:
        daemon.close()

    def walk(doc: dict) -> list[dict]:  # type: ignore[type-arg]
        return [doc, *(d for sub in doc.get("subsegments", []) for d in walk(sub))]

    segments = [d for doc in documents for d in walk(doc)]
    handler = [s for s in segments if s.get("name") == "## handler"]
    assert handler, [s.get("name") for s in segments]
    annotations = {k: v for s in segments for k, v in (s.get("annotations") or {}).items()}
    assert annotations.get("incident_id") == "01TRACEDINCIDENT" and annotations.get("service_id") == "svc-traced"
    # each DynamoDB call a subsegment of the handler's, with its operation and table
    calls = [s for s in segments if s.get("namespace") == "aws" and s.get("name") == "dynamodb"]
    assert {"GetItem", "TransactWriteItems"} <= {s["aws"]["operation"] for s in calls}
    assert {s["parent_id"] for s in calls} == {handler[0]["id"]}
    assert all(s["trace_id"] == "1-67560000-0123456789abcdef01234567" for s in segments if "trace_id" in s)
