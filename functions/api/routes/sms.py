"""SMS: a person's number (``/me/phone``: set it, which texts a one-time code; verify it with the code; remove it)
and the ack link a page by SMS carries (``/sms/ack/<token>``, public: the signed token is the credential). The link
first shows a confirmation page (``GET``), and only its button (``POST``) acknowledges: a phone's link preview or a
mail scanner that fetches the URL changes nothing."""

from __future__ import annotations

from html import escape
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from oncall import wiring
from oncall.api.auth import current_user
from oncall.domain import texts
from oncall.services.sms import Phone

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


class PhoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=8, max_length=24, description="E.164, e.g. +4915112345678")


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")


class PhoneOut(BaseModel):
    #: the verified number SMS go to, if any
    number: str | None
    #: a number waiting for its code
    pending: str | None
    #: the code texted to ``pending`` expired unused: ``PUT /me/phone`` again for a new one
    code_expired: bool = False

    @classmethod
    def of(cls, phone: Phone) -> PhoneOut:
        return cls(number=phone.number, pending=phone.pending, code_expired=phone.code_expired)


@router.get("/me/phone", tags=["me"], summary="My SMS number")
def get_phone() -> PhoneOut:
    return PhoneOut.of(wiring.sms.sms_service().number(current_user()))


@router.put("/me/phone", tags=["me"], summary="Set my SMS number: a one-time code is texted to it")
def put_phone(body: Annotated[PhoneIn, Body()]) -> Response[PhoneOut]:
    service = wiring.sms.sms_service()
    service.register(current_user(), body.number)
    phone = PhoneOut.of(service.number(current_user()))
    return Response(status_code=202, content_type="application/json", body=phone)


@router.post("/me/phone/verify", tags=["me"], summary="Verify my SMS number with the code texted to it")
def verify_phone(body: Annotated[CodeIn, Body()]) -> PhoneOut:
    number = wiring.sms.sms_service().verify(current_user(), body.code)
    return PhoneOut(number=number, pending=None)


@router.delete("/me/phone", tags=["me"], summary="Remove my SMS number")
def delete_phone() -> Response[str]:
    wiring.sms.sms_service().remove(current_user())
    return Response(status_code=204, content_type="application/json", body="")


_STATES = {"invalid": (404, texts.SMS_LINK_INVALID), "used": (410, texts.SMS_LINK_USED)}


def _page(status: int, message: str, form: bool = False) -> Response[str]:
    button = '<form method="post"><button type="submit">Acknowledge</button></form>' if form else ""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>OnCall Hub</title></head>'
        f"<body><main><h1>OnCall Hub</h1><p>{escape(message)}</p>{button}</main></body></html>"
    )
    # the token is in the URL: no cache may keep the page
    return Response(
        status_code=status, content_type="text/html; charset=utf-8", body=body, headers={"Cache-Control": "no-store"}
    )


def _answer(token: str, confirm: bool) -> Response[str]:
    service = wiring.sms.sms_service()
    view = service.acknowledge(token) if confirm else service.view(token)
    if view.state in _STATES:
        return _page(*_STATES[view.state])
    if view.state == "expired":
        return _page(410, texts.SMS_LINK_EXPIRED)
    incident = view.incident
    assert incident is not None  # every other state names the incident
    if view.state == "valid":
        return _page(200, texts.sms_confirm(incident.title, incident.id, view.who or ""), form=True)
    if view.state == "already":
        return _page(200, texts.sms_already(incident.title, incident.status.value))
    return _page(200, texts.sms_acknowledged(incident.title, view.who or ""))


@router.get("/sms/ack/<token>", tags=["sms"], summary="The confirmation page of an SMS ack link")
def ack_page(token: str) -> Response[str]:
    return _answer(token, confirm=False)


@router.post("/sms/ack/<token>", tags=["sms"], summary="Acknowledge through an SMS ack link (once)")
def ack(token: str) -> Response[str]:
    return _answer(token, confirm=True)


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
