"""``/webhooks``: outgoing webhook subscriptions (admin only).

The signing secret (``whsec_...``) is returned by create and ``rotate-secret`` only; after a rotation both the new and
the previous secret sign every delivery for the overlap period, so receivers can switch without losing events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from oncall import wiring
from oncall.api.auth import current_user, require
from oncall.api.lists import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, list_response
from oncall.domain.users import Role
from oncall.domain.webhooks import MAX_EVENTS, MAX_URL_CHARS, Subscription, WebhookDelivery

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=MAX_URL_CHARS)
    events: list[str] = Field(min_length=1, max_length=MAX_EVENTS)
    description: str | None = Field(default=None, max_length=500)
    teams: list[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]] = Field(
        default=[], max_length=50, description="only events of these teams (their team_id); empty: every event"
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    teams: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    #: only in the answers to create and rotate-secret
    secret: str | None = None
    #: while set, deliveries are also signed with the previous secret
    previous_secret_valid_until: datetime | None = None

    @classmethod
    def of(cls, sub: Subscription, *, with_secret: bool = False) -> WebhookOut:
        return cls(
            id=sub.id,
            url=sub.url,
            events=list(sub.events),
            teams=list(sub.teams),
            description=sub.description,
            enabled=sub.enabled,
            disabled_reason=sub.disabled_reason,
            created_at=sub.created_at,
            secret=sub.secret if with_secret else None,
            previous_secret_valid_until=sub.previous_until if sub.previous_secret else None,
        )


def _delivery(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "event_type": d.event_type,
        "event_id": d.event_id,
        "status": d.status.value,
        "attempts": d.attempts,
        "created_at": d.created_at.isoformat(),
        "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
        "last_attempts": [
            {
                "at": a.at.isoformat(),
                "status": a.status,
                "ok": a.ok,
                "detail": a.detail,
                "duration_ms": a.duration_ms,
            }
            for a in d.history[-10:]
        ],
    }


def _admin() -> None:
    require(Role.ADMIN)


@router.post("/webhooks", tags=["webhooks"], summary="Subscribe a URL to event types (admin); the secret is shown once")
def create_webhook(body: Annotated[WebhookIn, Body()]) -> tuple[WebhookOut, int]:
    _admin()
    sub = wiring.webhooks.webhook_service().create(
        body.url,
        body.events,
        wiring.clock()(),
        description=body.description,
        teams=body.teams,
        actor_id=current_user().id,
    )
    return WebhookOut.of(sub, with_secret=True), 201


@router.get("/webhooks", tags=["webhooks"], summary="List webhook subscriptions (admin)")
def list_webhooks(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[Any]:
    _admin()
    subs, last = wiring.webhooks.webhook_service().paginate(limit, decode_cursor(cursor))
    items = [WebhookOut.of(s).model_dump(mode="json", exclude={"secret"}) for s in subs]
    return list_response(router.current_event.headers, items, encode_cursor(last))


@router.get("/webhooks/<webhook_id>", tags=["webhooks"], summary="One webhook subscription (admin)")
def get_webhook(webhook_id: str) -> WebhookOut:
    _admin()
    return WebhookOut.of(wiring.webhooks.webhook_service().get(webhook_id))


@router.delete("/webhooks/<webhook_id>", tags=["webhooks"], summary="Delete a subscription (admin)")
def delete_webhook(webhook_id: str) -> Response[None]:
    _admin()
    wiring.webhooks.webhook_service().delete(webhook_id, actor_id=current_user().id)
    return Response(status_code=204)


@router.post(
    "/webhooks/<webhook_id>/rotate-secret",
    tags=["webhooks"],
    summary="New signing secret (admin); the previous one keeps signing during the overlap",
)
def rotate_secret(webhook_id: str) -> WebhookOut:
    _admin()
    sub = wiring.webhooks.webhook_service().rotate_secret(webhook_id, wiring.clock()(), actor_id=current_user().id)
    return WebhookOut.of(sub, with_secret=True)


@router.get("/webhooks/<webhook_id>/deliveries", tags=["webhooks"], summary="Deliveries, newest first (admin)")
def list_deliveries(
    webhook_id: str,
    status: Annotated[Literal["pending", "succeeded", "dead", "cancelled"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[Any]:
    _admin()
    found, last = wiring.webhooks.webhook_service().deliveries(webhook_id, limit, decode_cursor(cursor), status)
    return list_response(router.current_event.headers, [_delivery(d) for d in found], encode_cursor(last))


@router.post(
    "/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver",
    tags=["webhooks"],
    summary="Send a finished (e.g. dead-lettered) delivery again with the same webhook-id (admin)",
)
def redeliver(webhook_id: str, delivery_id: str) -> tuple[dict[str, Any], int]:
    _admin()
    delivery = wiring.webhooks.webhook_service().redeliver(webhook_id, delivery_id, wiring.clock()())
    return _delivery(delivery), 202


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
