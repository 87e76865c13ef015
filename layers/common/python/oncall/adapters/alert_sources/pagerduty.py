"""PagerDuty Events API v2 (``POST /v2/enqueue``): validation with PagerDuty's documented limits and error wording.

Fields (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/): ``routing_key`` (32 characters: the
integration key), ``event_action`` (trigger | acknowledge | resolve), ``dedup_key`` (≤ 255; required to acknowledge
or resolve; generated for a trigger without one and returned), and for a trigger a ``payload`` with ``summary``
(≤ 1,024), ``source``, ``severity`` (critical | error | warning | info), optional ``timestamp``, ``component``,
``group``, ``class``, ``custom_details``; optional ``links``/``images``/``client``/``client_url``.

An alert's labels are ``custom_details`` flattened (a string one is the label ``custom_details``) and the payload's
``component``, ``group``, ``class`` and ``source``, which win a name they share with a custom detail. An acknowledge
or resolve needs no payload, but one that carries it gets its labels too.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from oncall.domain.alerts import (
    PAGERDUTY_SEVERITIES,
    Alert,
    AlertAction,
    InvalidAlert,
    bound_free_form,
    bound_raw,
    merge_labels,
)
from oncall.domain.incidents import Source
from oncall.services.alert_ports import Sender

#: the source's name at alert intake (``AlertService.receive``)
NAME = "pagerduty"

SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255
ROUTING_KEY_LENGTH = 32
BODY_MAX_BYTES = 512 * 1024
_ACTIONS = {a.value for a in AlertAction}
_OPTIONAL_TEXT = ("component", "group", "class")
_LABEL_FIELDS = ("component", "group", "class", "source")


def routing_key(body: Any) -> str:
    """The integration key the event names, or InvalidAlert (PagerDuty checks it before anything else)."""
    if not isinstance(body, dict):
        raise InvalidAlert(["Event object must be a JSON object"])
    key = body.get("routing_key")
    if key is None:
        raise InvalidAlert(["'routing_key' is missing or blank"])
    if not isinstance(key, str):
        raise InvalidAlert(["'routing_key' must be a string"])
    if len(key) != ROUTING_KEY_LENGTH:
        raise InvalidAlert([f"Length of 'routing_key' is incorrect (should be {ROUTING_KEY_LENGTH} characters)"])
    return key


def _text(errors: list[str], obj: dict[str, Any], name: str, label: str, *, required: bool, limit: int) -> str | None:
    value = obj.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.append(f"'{label}' is missing or blank")
        return None
    if not isinstance(value, str):
        errors.append(f"'{label}' must be a string")
        return None
    if len(value) > limit:
        errors.append(f"'{label}' is too long (maximum is {limit} characters)")
        return None
    return value


def labels(payload: Any) -> dict[str, str]:
    """The labels an event's ``payload`` carries (none when it is not an object)."""
    if not isinstance(payload, dict):
        return {}
    custom = payload.get("custom_details")
    if isinstance(custom, str):
        custom = {"custom_details": custom} if custom.strip() else None
    fields = {name: payload.get(name) for name in _LABEL_FIELDS}
    # a blank field is an absent one (as PagerDuty's validation reads it), not an empty label
    fields = {k: v for k, v in fields.items() if not (isinstance(v, str) and not v.strip())}
    return merge_labels(custom if isinstance(custom, dict) else None, fields)


def to_alert(body: Any, service_id: str) -> Alert:
    """A validated event as an Alert; InvalidAlert listing every problem otherwise."""
    routing_key(body)
    errors: list[str] = []
    action = body.get("event_action")
    if action is None:
        errors.append("'event_action' is missing or blank")
    elif not isinstance(action, str) or action not in _ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge or resolve")
    dedup_key = _text(
        errors, body, "dedup_key", "dedup_key", required=action in ("acknowledge", "resolve"), limit=DEDUP_KEY_MAX
    )
    summary = ""
    severity_word = "error"
    occurred: datetime | None = None
    details: dict[str, Any] = {}
    if action == "trigger":
        payload = body.get("payload")
        if payload is None:
            errors.append("'payload' is missing")
        elif not isinstance(payload, dict):
            errors.append("'payload' must be an object")
        else:
            summary = _text(errors, payload, "summary", "payload.summary", required=True, limit=SUMMARY_MAX) or ""
            _text(errors, payload, "source", "payload.source", required=True, limit=SUMMARY_MAX)
            sev = payload.get("severity")
            if sev is None:
                errors.append("'payload.severity' is missing or blank")
            elif not isinstance(sev, str) or sev not in PAGERDUTY_SEVERITIES:
                errors.append("'payload.severity' must be one of critical, error, warning or info")
            else:
                severity_word = sev
            stamp = payload.get("timestamp")
            if stamp is not None:
                try:
                    occurred = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
                except ValueError:
                    errors.append("'payload.timestamp' must be an ISO 8601 timestamp")
            for name in _OPTIONAL_TEXT:
                value = _text(errors, payload, name, f"payload.{name}", required=False, limit=SUMMARY_MAX)
                if value:
                    details[name] = value
            custom = payload.get("custom_details")
            if custom is not None and not isinstance(custom, (dict, str)):
                errors.append("'payload.custom_details' must be an object")
            elif custom:
                details["custom_details"] = bound_free_form(custom)
            details["source"] = payload.get("source")
        for name in ("links", "images"):
            value = body.get(name)
            if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
                errors.append(f"'{name}' must be an array of objects")
        client_url = body.get("client_url")
        if isinstance(client_url, str) and client_url:
            details["client_url"] = client_url[:2048]
        links = body.get("links")
        if isinstance(links, list):
            details["links"] = [
                {"href": str(v.get("href", ""))[:2048], "text": str(v.get("text", ""))[:256]}
                for v in links[:10]
                if isinstance(v, dict)
            ]
    if errors:
        raise InvalidAlert(errors)
    generated = dedup_key is None
    if dedup_key is None:
        # PagerDuty mints a key for a keyless trigger and returns it, so the sender can resolve later
        dedup_key = uuid.uuid4().hex
    return Alert(
        source=Source.PAGERDUTY_EVENTS,
        action=AlertAction(str(action)),
        service_id=service_id,
        summary=summary,
        severity=PAGERDUTY_SEVERITIES[severity_word],
        raw=bound_raw({k: v for k, v in body.items() if k != "routing_key"}),
        dedup_key=dedup_key,
        key_generated=generated,
        occurred_at=occurred,
        details=details,
        labels=labels(body.get("payload")),
    )


class PagerDutySource:
    """``AlertSource`` for ``POST /v2/enqueue``: the payload is the parsed body, which names its integration key
    (``routing_key``)."""

    def sender(self, payload: Any, key: str | None) -> Sender:
        return Sender(InvalidAlert(["Invalid routing key"]), key=routing_key(payload))

    def alerts(self, payload: Any, service_id: str) -> list[Alert]:
        return [to_alert(payload, service_id)]
