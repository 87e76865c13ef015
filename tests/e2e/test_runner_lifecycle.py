"""Starting, stopping and restarting the runner: state survives, nothing is left running, the product alone works."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.launch import PRODUCT_TOPOLOGY, STARTUP_BUDGET_S, Runner, start_runner

pytestmark = pytest.mark.e2e


def _alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(pid)
    return out


def _stop_cleanly(runner: Runner, sig: int, *, group: bool = False) -> None:
    children = runner.descendants()
    assert children, "a runner that served requests has worker processes"
    assert runner.stop(sig, group=group) == 0, runner.log()[-3000:]
    deadline = time.monotonic() + 5
    while _alive(children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(children), f"stray processes after {signal.Signals(sig).name}: {_alive(children)}"
    assert "stopped" in runner.log()


def test_restart_keeps_data_and_each_stop_leaves_no_process(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = uuid.uuid4().hex
    first = start_runner(tmp_path / "first", data_dir=data)
    try:
        assert first.post(f"/_fixture/race/{key}", {"claimant": "before-restart"}).status_code == 201
        greeted = first.post("/_local/telegram/send", {"chat_id": 9, "text": "hi"}).json()["replies"]
        # a short jump: every product schedule (reminders each minute...) fires for each minute skipped
        advanced = first.post("/_local/clock", {"advance": "PT2M"}).json()["now"]
    finally:
        # Ctrl-C in a terminal: every process of the group gets SIGINT, workers included
        _stop_cleanly(first, signal.SIGINT, group=True)
    assert "forced exit" not in first.log()
    # workers ignore the terminal's SIGINT (the runner ends them), so none dies mid-invocation
    assert "KeyboardInterrupt" not in first.log()
    assert any(data.iterdir()), "no snapshot written on Ctrl-C"

    second = start_runner(tmp_path / "second", data_dir=data)
    try:
        assert second.startup_s < STARTUP_BUDGET_S
        again = second.post(f"/_fixture/race/{key}", {"claimant": "after-restart"})
        assert again.status_code == 409, again.text
        items = second.client("dynamodb").get_item(
            TableName="oncall-fixture", Key={"pk": {"S": f"race#{key}"}, "sk": {"S": "claim"}}
        )["Item"]
        assert items["claimant"]["S"] == "before-restart"
        # the clock keeps the minutes it was advanced by
        assert second.get("/_local/clock").json()["now"] >= advanced
        # the Telegram sandbox keeps its chats: the old message's button still works, ids keep increasing
        outbox = second.get("/_local/telegram/outbox", params={"chat_id": 9}).json()["items"]
        assert outbox == greeted
        pressed = second.post("/_local/telegram/send", {"chat_id": 9, "callback_data": "ack"}).json()
        assert pressed["update"]["callback_query"]["message"]["message_id"] == greeted[0]["message_id"]
        assert [r["method"] for r in pressed["replies"]] == ["answerCallbackQuery", "editMessageText"]
        assert pressed["update"]["update_id"] > 1
    finally:
        _stop_cleanly(second, signal.SIGTERM)


def test_product_alone_comes_up_and_answers(tmp_path: Path) -> None:
    runner = start_runner(
        tmp_path,
        topology=PRODUCT_TOPOLOGY,
        env={"ONCALL_ADMIN_USERNAME": "root", "ONCALL_ADMIN_PASSWORD": "correct horse battery staple"},
    )
    try:
        assert runner.startup_s < STARTUP_BUDGET_S
        print(f"product runner ready in {runner.startup_s:.2f} s")
        assert runner.get("/health").status_code == 200
        # the product's own bot answers through the sandbox (no bot function: 409, see test_runner_config.py)
        sent = runner.post("/_local/telegram/send", {"chat_id": 1, "text": "/help"})
        assert sent.status_code == 200, sent.text
        assert [r["method"] for r in sent.json()["replies"]] == ["sendMessage"]
        # the first admin from the environment can log in (20 racing creates of one user: test_auth_runner.py)
        login = runner.post("/auth/login", {"username": "root", "password": "correct horse battery staple"})
        assert login.status_code == 200, login.text
        assert login.json()["token_type"] == "Bearer"
    finally:
        runner.stop()
