"""The moto internals the emulator patches are pinned: a moved hook point fails here, loudly, not in a demo."""

from __future__ import annotations

import importlib.metadata

import pytest

from infra.local import hooks
from infra.local.hooks import HookPointMoved, verify_hook_points


def test_moto_is_pinned_exactly() -> None:
    assert importlib.metadata.version("moto") == hooks.MOTO_VERSION == "5.2.5"


def test_every_hook_point_is_where_the_emulator_expects_it() -> None:
    verify_hook_points()


def test_a_moved_signature_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.events.models import Rule

    def send_to_targets(self, event, transform_input=True, extra=None):  # type: ignore[no-untyped-def]
        raise AssertionError("never called")

    monkeypatch.setattr(Rule, "send_to_targets", send_to_targets)
    with pytest.raises(HookPointMoved, match=r"Rule\.send_to_targets"):
        verify_hook_points()


def test_a_removed_hook_point_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    monkeypatch.delattr(DynamoDBStreamsBackend, "get_records")
    with pytest.raises(HookPointMoved, match="get_records is gone"):
        verify_hook_points()


def test_another_moto_version_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto

    monkeypatch.setattr(moto, "__version__", "5.3.0")
    with pytest.raises(HookPointMoved, match=r"pinned to 5\.2\.5"):
        verify_hook_points()


def test_a_dropped_instance_attribute_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspect as _inspect

    real = _inspect.getsource

    def without_shard_id(obj: object) -> str:
        text = real(obj)  # type: ignore[arg-type]
        return text.replace("self.id =", "self.shard_id =") if getattr(obj, "__name__", "") == "StreamShard" else text

    monkeypatch.setattr(hooks.inspect, "getsource", without_shard_id)
    with pytest.raises(HookPointMoved, match=r"StreamShard no longer sets \.id"):
        verify_hook_points()


def test_step_functions_waiting_some_other_way_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspect as _inspect

    real = _inspect.getsource

    def sleeping_elsewhere(obj: object) -> str:
        text = real(obj)  # type: ignore[arg-type]
        return text.replace("time.sleep(interval_seconds)", "sleep(interval_seconds)")

    monkeypatch.setattr(hooks.inspect, "getsource", sleeping_elsewhere)
    with pytest.raises(HookPointMoved, match=r"RetrierDecl\._eval_body no longer uses time\.sleep"):
        verify_hook_points()


def test_a_wait_module_name_that_is_gone_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state

    monkeypatch.delattr(execute_state, "threading")
    with pytest.raises(HookPointMoved, match=r"execute_state\.threading is gone"):
        verify_hook_points()
