"""One powertools ``Router`` per resource; ``handler.py`` includes them all through ``register_all``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver


def register_all(app: APIGatewayHttpResolver) -> None:
    from routes import (
        api_tokens,
        audit,
        auth,
        calendar,
        health,
        incidents,
        ingest,
        me,
        meta,
        metrics,
        notification_rules,
        people,
        routing,
        schedules,
        services,
        sms,
        sso,
        teams,
        users,
        webhooks,
    )

    for resource in (
        meta,
        health,
        auth,
        sso,
        me,
        users,
        people,
        teams,
        schedules,
        calendar,
        services,
        routing,
        incidents,
        webhooks,
        notification_rules,
        sms,
        ingest,
        audit,
        api_tokens,
        metrics,
    ):
        resource.register(app)
