"""``/me/notification-rules``: which channels each kind of notification uses for the signed-in person.

``PUT {"rules": {"reminder": ["email"], "page": ["telegram", "email"], "resolution": []}}`` replaces the rules; kinds
not named follow the defaults (Telegram, then Slack, then email; SMS last for pages and escalations). An empty list
mutes a kind, except pages, low-urgency notices and escalations. ``also`` names channels that get a copy besides the
one that took a message (``{"page": ["sms"]}``: in Slack and by SMS); left out, the stored copies are kept.

Every answer also says, per channel, whether it reaches the person now (``channels``: ``ready``, ``not_set_up``,
``pending``, ``code_expired``, ``blocked`` with what the channel said, ``off``), so rules naming a channel that cannot
work are seen as such where they are set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from oncall import wiring
from oncall.api.auth import current_user
from oncall.domain.channel_states import ChannelState, State
from oncall.domain.notifications import DEFAULT_ROUTES, Kind, check_also, check_rules

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: dict[str, list[str]] = Field(max_length=len(Kind))
    #: channels that get a copy besides the one that took the message, per kind
    also: dict[str, list[str]] | None = Field(default=None, max_length=len(Kind))


class ChannelOut(BaseModel):
    name: str
    #: ``pending``: a number waits for its code; ``code_expired``: that code expired unused or wrong codes used it up
    #: (ask for a new one);
    #: ``off``: the deployment does not offer the channel
    state: State
    #: what the channel said when it failed for good (``channel_not_found``, an opted-out number)
    detail: str | None = None
    since: datetime | None = None

    @classmethod
    def of(cls, state: ChannelState) -> ChannelOut:
        return cls(name=state.channel, state=state.state, detail=state.detail, since=state.since)


class RulesOut(BaseModel):
    rules: dict[str, list[str]]
    #: what applies to every kind the person's rules do not name
    defaults: dict[str, list[str]]
    also: dict[str, list[str]] = Field(default_factory=dict)
    #: whether each channel reaches the person now, in the order of the channels a rule may name
    channels: list[ChannelOut] = Field(default_factory=list)

    @classmethod
    def of(cls, rules: dict[Kind, tuple[str, ...]], also: dict[Kind, tuple[str, ...]] | None = None) -> RulesOut:
        return cls(
            rules={k.value: list(v) for k, v in rules.items()},
            defaults={k.value: list(v) for k, v in DEFAULT_ROUTES.items()},
            also={k.value: list(v) for k, v in (also or {}).items()},
            channels=[ChannelOut.of(s) for s in wiring.notifications.channel_states().of(current_user())],
        )


@router.get("/me/notification-rules", tags=["me"], summary="My channels per notification kind")
def get_rules() -> RulesOut:
    stored = wiring.notifications.notification_rules().get(current_user().id)
    return RulesOut.of(stored.rules, stored.also)


@router.put("/me/notification-rules", tags=["me"], summary="Replace my channels per notification kind")
def put_rules(body: Annotated[RulesIn, Body()]) -> RulesOut:
    rules = check_rules(body.rules)
    me, store = current_user().id, wiring.notifications.notification_rules()
    stored = store.get(me)
    kept = stored.also
    also = check_also(body.also) if body.also is not None else kept
    before = {k.value: list(v) for k, v in stored.rules.items()}
    after = {k.value: list(v) for k, v in rules.items()}
    was = {"rules": before, **({"also": {k.value: list(v) for k, v in kept.items()}} if kept else {})}
    now = {"rules": after, **({"also": {k.value: list(v) for k, v in also.items()}} if also else {})}
    # a person's own settings are recorded like any other change
    with wiring.core.audit()(me, "user.notification_rules_set", me, was, now):
        store.put(me, rules, wiring.clock()(), also)
    return RulesOut.of(rules, also)


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
