"""The one secrets reader, against moto's SSM Parameter Store (SecureString parameters, as deployed): each secret is
fetched once per cache period, whoever asks for it, and a missing or broken one is named."""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3
import pytest

from oncall.adapters.secrets import SecretReader, SecretUnavailable
from oncall.settings import SecretRef, SettingsError


def counted_client() -> tuple[Any, Counter[str]]:
    """A real SSM client (moto behind it) that counts the GetParameter calls it makes, per parameter."""
    client = boto3.client("ssm", region_name="us-east-1")
    calls: Counter[str] = Counter()

    def count(params: dict[str, Any], **_: Any) -> None:
        calls[params["Name"]] += 1

    client.meta.events.register("provide-client-params.ssm.GetParameter", count)
    return client, calls


def put(client: Any, name: str, value: str) -> str:
    client.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    return name


def ref(secret_id: str | None = None, inline: str | None = None) -> SecretRef:
    return SecretRef(inline, secret_id, ("X_INLINE", "ONCALL_SECRET_X"))


def test_a_secret_is_fetched_once_per_cache_period(aws: dict[str, str]) -> None:
    client, calls = counted_client()
    arn = put(client, "/t/secrets/counted", "  first value\n")
    ticks = [0.0]
    reader = SecretReader(client, max_age=300, monotonic=lambda: ticks[0])
    assert [reader.value(ref(arn)) for _ in range(5)] == ["first value"] * 5
    assert calls[arn] == 1
    put(client, arn, "rotated")
    ticks[0] = 299
    assert reader.value(ref(arn)) == "first value"
    ticks[0] = 300
    assert reader.value(ref(arn)) == "rotated"
    assert calls[arn] == 2


def test_inline_values_fetch_nothing_and_neither_source_names_both_variables(aws: dict[str, str]) -> None:
    client, calls = counted_client()
    reader = SecretReader(client)
    assert reader.value(ref("arn:never-read", inline=" local ")) == "local"
    assert sum(calls.values()) == 0
    with pytest.raises(SettingsError, match="X_INLINE or ONCALL_SECRET_X: required"):
        reader.value(ref())


def test_a_missing_or_empty_secret_is_named_and_not_cached(aws: dict[str, str]) -> None:
    client, calls = counted_client()
    reader = SecretReader(client)
    with pytest.raises(SecretUnavailable, match="ONCALL_SECRET_X: secret /t/nope: ParameterNotFound"):
        reader.value(ref("/t/nope"))
    blank = put(client, "/t/secrets/blank", "   ")
    with pytest.raises(SecretUnavailable, match="holds no text"):
        reader.value(ref(blank))
    put(client, blank, "now set")
    assert reader.value(ref(blank)) == "now set"
    assert calls[blank] == 2


def test_every_secret_a_function_uses_goes_through_the_one_reader(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deployed shape: only secret ids in the environment. Building the parts again and again (and signing
    tokens) reads each secret once."""
    from oncall import wiring

    client, calls = counted_client()
    ids = {
        "ONCALL_SECRET_JWT_KEYS": put(client, "/t/secrets/jwt", "k" * 40),
        "ONCALL_SECRET_TELEGRAM_BOT_TOKEN": put(client, "/t/secrets/tg", "1:token"),
        "ONCALL_SECRET_TELEGRAM_WEBHOOK_SECRET": put(client, "/t/secrets/hook", "hook"),
        "ONCALL_SECRET_GRAFANA_WEBHOOK_HMAC": put(client, "/t/secrets/grafana", "g"),
    }
    for var in (
        "ONCALL_JWT_KEYS",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_WEBHOOK_SECRET",
        "ONCALL_ALERTS_GRAFANA_HMAC_SECRET",
    ):
        monkeypatch.delenv(var, raising=False)
    for var, value in {**ids, "ONCALL_ALERTS_GRAFANA_HMAC": "required"}.items():
        monkeypatch.setenv(var, value)
    wiring.reset()
    wiring.override(secret_reader=SecretReader(client))
    try:
        for _ in range(3):
            assert wiring.core.key_source().get().signing_key()[1] == b"k" * 40
            client_tg = wiring.notifications.telegram_client()
            assert client_tg is not None and client_tg.token == "1:token"
            assert wiring.telegram.telegram_webhook_secret() == "hook"
            assert wiring.alerts.grafana_hmac_secret() == "g"
            wiring.override(clock=wiring.utc_now)  # drops every built part; the reader stays
        assert calls == Counter(dict.fromkeys(ids.values(), 1))
    finally:
        wiring.reset()


def test_the_runner_saves_secret_parameters_and_restores_older_saves_into_them(aws: dict[str, str]) -> None:
    """A state file written when the runner kept secrets in Secrets Manager (``oncall-<name>``) still restores:
    the same values land in the parameters the functions now read, so sessions and the bot survive an upgrade."""
    from infra.local.persistence import _secrets, restore_secrets
    from infra.local.resources import create_secrets, secret_name
    from infra.topology import TOPOLOGY

    ssm = boto3.client("ssm", region_name="us-east-1")
    create_secrets(ssm, TOPOLOGY)
    generated = _secrets(ssm)
    assert set(generated) == {secret_name(s) for s in TOPOLOGY.secrets}
    create_secrets(ssm, TOPOLOGY)  # a restart keeps what is there
    assert _secrets(ssm) == generated

    restore_secrets(
        lambda service: ssm, {"secrets": {"oncall-jwt-keys": "j" * 40, "/oncall/secrets/metrics-token": "m"}}
    )
    saved = _secrets(ssm)
    assert saved["/oncall/secrets/jwt-keys"] == "j" * 40
    assert saved["/oncall/secrets/metrics-token"] == "m"
    assert "oncall-jwt-keys" not in saved
