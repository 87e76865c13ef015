"""``/audit``: who changed what, when (admins): people, teams, schedules, rotations, policies, services, their keys,
webhooks, API tokens and service accounts, each change with its fields before and after, secrets redacted
(``oncall.domain.audit``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from oncall import wiring
from oncall.api.auth import require
from oncall.api.lists import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, list_response
from oncall.api.times import Instant
from oncall.domain.audit import AuditRecord
from oncall.domain.errors import InvalidInput
from oncall.domain.users import Role

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

Kind = Literal["user", "team", "schedule", "rotation", "policy", "service", "webhook", "api_token", "service_account"]


class AuditOut(BaseModel):
    id: str
    at: str
    actor_id: str | None
    action: str
    kind: str
    object_id: str
    changes: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, record: AuditRecord) -> AuditOut:
        return cls(**record.to_dict())


@router.get("/audit", tags=["audit"], summary="Changes newest first, by object, actor and time (admin)")
def list_audit(
    kind: Annotated[Kind | None, Query(description="with object_id: one object's history")] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: Annotated[str | None, Query(max_length=64, description="one person's changes")] = None,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Annotated[Instant | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[Any]:
    require(Role.ADMIN)
    if (kind is None) != (object_id is None):
        raise InvalidInput("object_id" if kind else "kind", "kind and object_id go together")
    end = to or wiring.clock()() + timedelta(seconds=1)
    start = from_ or end - timedelta(days=30)
    if start >= end:
        raise InvalidInput("from", "must be before to")
    found, last = wiring.core.audit_log().search(
        start=start,
        end=end,
        kind=kind,
        object_id=object_id,
        actor_id=actor_id,
        limit=limit,
        cursor=decode_cursor(cursor),
    )
    items = [AuditOut.of(r).model_dump(mode="json") for r in found]
    return list_response(router.current_event.headers, items, encode_cursor(last))


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
