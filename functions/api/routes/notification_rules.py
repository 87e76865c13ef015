"""``/me/notification-rules``: which channels each kind of notification uses for the signed-in person.

``PUT {"rules": {"reminder": ["email"], "page": ["telegram", "email"], "resolution": []}}`` replaces the rules; kinds
not named follow the defaults (Telegram, then email). An empty list mutes a kind, except pages, low-urgency notices
and escalations.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from oncall import wiring
from oncall.api.auth import current_user
from oncall.domain.notifications import DEFAULT_ROUTES, Kind, check_rules

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: dict[str, list[str]] = Field(max_length=len(Kind))


class RulesOut(BaseModel):
    rules: dict[str, list[str]]
    #: what applies to every kind the person's rules do not name
    defaults: dict[str, list[str]]

    @classmethod
    def of(cls, rules: dict[Kind, tuple[str, ...]]) -> RulesOut:
        return cls(
            rules={k.value: list(v) for k, v in rules.items()},
            defaults={k.value: list(v) for k, v in DEFAULT_ROUTES.items()},
        )


@router.get("/me/notification-rules", tags=["me"], summary="My channels per notification kind")
def get_rules() -> RulesOut:
    return RulesOut.of(wiring.notifications.notification_rules().get(current_user().id))


@router.put("/me/notification-rules", tags=["me"], summary="Replace my channels per notification kind")
def put_rules(body: Annotated[RulesIn, Body()]) -> RulesOut:
    rules = check_rules(body.rules)
    me, store = current_user().id, wiring.notifications.notification_rules()
    before = {k.value: list(v) for k, v in store.get(me).items()}
    after = {k.value: list(v) for k, v in rules.items()}
    # a person's own settings are recorded like any other change
    with wiring.core.audit()(me, "user.notification_rules_set", me, {"rules": before}, {"rules": after}):
        store.put(me, rules, wiring.clock()())
    return RulesOut.of(rules)


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
