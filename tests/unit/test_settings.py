"""Settings models: what a missing or bad variable says, the documented defaults, and parsing once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from oncall.settings import (
    GrafanaSettings,
    KeySettings,
    LifecycleSettings,
    NotificationSettings,
    Settings,
    SettingsError,
    TelegramSettings,
    WebhookDeliverySettings,
    check,
    get_settings,
    load,
)


def test_a_missing_required_setting_names_its_variable() -> None:
    with pytest.raises(SettingsError, match=r"ONCALL_QUEUE_NOTIFIER \(queue_url\): required, not set"):
        WebhookDeliverySettings.from_env({})
    with pytest.raises(SettingsError, match="ONCALL_STATE_MACHINE_INCIDENT_LIFECYCLE"):
        LifecycleSettings.from_env({"ONCALL_STATE_MACHINE_INCIDENT_LIFECYCLE": ""})
    with pytest.raises(SettingsError, match="ONCALL_TABLE_NOTIFICATIONS"):
        Settings.from_env({}).table("notifications")
    with pytest.raises(SettingsError, match="ONCALL_JWT_KEYS or ONCALL_SECRET_JWT_KEYS: required"):
        raise KeySettings.from_env({}).keys.missing()


@pytest.mark.parametrize(
    ("model", "environ", "named"),
    [
        (Settings, {"ONCALL_MAX_BODY_BYTES": "big"}, r"ONCALL_MAX_BODY_BYTES \(max_body_bytes\): Input should be"),
        (Settings, {"ONCALL_ROTATION_HORIZON_DAYS": "400"}, r"ONCALL_ROTATION_HORIZON_DAYS \(rotation_horizon_days\)"),
        (Settings, {"ONCALL_PUBLIC_URL": "javascript:alert(1)"}, r"ONCALL_PUBLIC_URL \(public_url\): must be an abs"),
        (Settings, {"ONCALL_ARGON2_TIME_COST": "0"}, r"ONCALL_ARGON2_TIME_COST \(auth.argon2_time_cost\)"),
        (Settings, {"ONCALL_ALERTS_RESOLVE_POLICY": "both"}, r"ONCALL_ALERTS_RESOLVE_POLICY \(alerts.resolve_policy\)"),
        (Settings, {"ONCALL_ALERTS_CLOUDWATCH_SERVICES": "[1]"}, r"\(alerts.cloudwatch_services\)"),
        (TelegramSettings, {"TELEGRAM_API_URL": "api.telegram.org"}, r"TELEGRAM_API_URL \(api_url\)"),
        (NotificationSettings, {"ONCALL_EMAIL_RATE": "0"}, r"ONCALL_EMAIL_RATE \(email_rate\)"),
        (NotificationSettings, {"ONCALL_EMAIL_UNSUBSCRIBE_URL": "http://x.example"}, "must be an absolute https URL"),
        (NotificationSettings, {"ONCALL_SMTP_PORT": "70000"}, r"ONCALL_SMTP_PORT \(smtp_port\)"),
        (GrafanaSettings, {"ONCALL_ALERTS_GRAFANA_HMAC": "on"}, r"ONCALL_ALERTS_GRAFANA_HMAC \(hmac\)"),
    ],
)
def test_a_bad_value_names_its_variable_and_field(model: type[Settings], environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        model.from_env(environ)


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("1,x", "comma-separated whole seconds"),
        ("5,-1", "must not be negative"),
    ],
)
def test_webhook_settings_refuse_bad_schedules_and_timeouts(value: str, named: str) -> None:
    base = {"ONCALL_QUEUE_NOTIFIER": "q"}
    with pytest.raises(SettingsError, match=rf"ONCALL_WEBHOOK_RETRY_SCHEDULE \(retry_schedule\): .*{named}"):
        WebhookDeliverySettings.from_env({**base, "ONCALL_WEBHOOK_RETRY_SCHEDULE": value})
    for timeout in ("0", "16", "soon"):
        with pytest.raises(SettingsError, match="ONCALL_WEBHOOK_TIMEOUT_SECONDS"):
            WebhookDeliverySettings.from_env({**base, "ONCALL_WEBHOOK_TIMEOUT_SECONDS": timeout})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"ONCALL_MAX_BODY_BYTES": "0", "ONCALL_AUTH_ACCESS_TTL_SECONDS": "x"})
    assert {p.variable for p in err.value.problems} == {"ONCALL_MAX_BODY_BYTES", "ONCALL_AUTH_ACCESS_TTL_SECONDS"}


def test_an_inline_secret_never_appears_in_a_message_or_repr() -> None:
    telegram = TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": "123:very-secret", "TELEGRAM_BOT_USERNAME": "@bot"})
    assert "very-secret" not in repr(telegram) and "very-secret" not in str(telegram)
    assert telegram.bot_token_ref.inline == "123:very-secret" and telegram.bot_username == "bot"


def test_unset_and_empty_mean_the_documented_defaults() -> None:
    from oncall.adapters.email import EmailSettings
    from oncall.services.webhooks import WebhookSettings

    assert Settings.from_env({"ONCALL_MAX_BODY_BYTES": ""}) == Settings()
    hooks = WebhookDeliverySettings.from_env({"ONCALL_QUEUE_NOTIFIER": "q"})
    service = WebhookSettings()
    assert hooks.retry_schedule == service.retry_schedule
    assert hooks.timeout_seconds == service.timeout_s
    assert hooks.disable_after == service.disable_after_dead
    assert timedelta(seconds=hooks.rotation_overlap_seconds) == service.rotation_overlap
    assert timedelta(seconds=hooks.lease_seconds) == service.lease
    assert timedelta(seconds=hooks.sweep_grace_seconds) == service.sweep_grace
    assert hooks.sweep_batch == service.sweep_batch
    mail = NotificationSettings.from_env({})
    assert (mail.email_rate, mail.smtp_port) == (EmailSettings().rate_per_second, EmailSettings().smtp_port)
    assert not mail.mail_enabled
    assert TelegramSettings.from_env({"TELEGRAM_API_URL": ""}).api_url == "https://api.telegram.org"
    assert GrafanaSettings.from_env({}).secret is None


def test_an_empty_retry_schedule_means_no_retries() -> None:
    got = WebhookDeliverySettings.from_env({"ONCALL_QUEUE_NOTIFIER": "q", "ONCALL_WEBHOOK_RETRY_SCHEDULE": ""})
    assert got.retry_schedule == ()


def test_grafana_required_needs_its_secret_and_inline_implies_required() -> None:
    required = GrafanaSettings.from_env({"ONCALL_ALERTS_GRAFANA_HMAC": "required"}).secret
    assert required is not None and not required.configured
    with pytest.raises(SettingsError, match="ONCALL_ALERTS_GRAFANA_HMAC_SECRET or ONCALL_SECRET_GRAFANA_WEBHOOK_HMAC"):
        raise required.missing()
    inline = GrafanaSettings.from_env({"ONCALL_ALERTS_GRAFANA_HMAC_SECRET": "s"}).secret
    assert inline is not None and inline.inline == "s"


def test_check_reports_bad_values_but_not_resources_left_to_each_function() -> None:
    assert check({}) == []
    problems = check({"ONCALL_WEBHOOK_DISABLE_AFTER": "0", "ONCALL_EMAIL_SENDER": "nobody"})
    assert sorted(p.variable for p in problems) == ["ONCALL_EMAIL_SENDER", "ONCALL_WEBHOOK_DISABLE_AFTER"]


def test_each_family_is_parsed_once_until_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    from oncall import wiring

    monkeypatch.setenv("ONCALL_NOTIFY_PAGE_CAP", "3")
    get_settings.cache_clear()
    first = get_settings()
    monkeypatch.setenv("ONCALL_NOTIFY_PAGE_CAP", "4")
    assert get_settings() is first and first.page_cap_per_incident == 3
    assert load(Settings) is first
    wiring.reset()  # a changed environment: the next read parses again
    assert get_settings().page_cap_per_incident == 4
    monkeypatch.delenv("ONCALL_NOTIFY_PAGE_CAP")
    get_settings.cache_clear()
