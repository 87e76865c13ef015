"""The outbox table's item (pynamodb model) and its keys."""

from __future__ import annotations

from datetime import timedelta

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from oncall.settings import get_settings

DEFAULT_TTL = timedelta(days=1)


def outbox_pk(entity_type: str, entity_id: str) -> str:
    return f"{entity_type}#{entity_id}"


def outbox_sk(version: int) -> str:
    return f"v#{version:012d}"


class OutboxItem(Model):
    class Meta:
        table_name = "oncall-outbox"
        region = "us-east-1"
        host: str | None = None

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity_type = UnicodeAttribute()
    entity_id = UnicodeAttribute()
    version = NumberAttribute()
    detail_type = UnicodeAttribute()
    detail = UnicodeAttribute()
    occurred_at = UnicodeAttribute()
    resources = UnicodeAttribute(null=True)
    expires_at = NumberAttribute()


def bound_model() -> type[OutboxItem]:
    """The model pointed at this deployment's outbox table and region."""
    settings = get_settings()
    OutboxItem.Meta.table_name = settings.table("outbox")
    OutboxItem.Meta.region = settings.region
    return OutboxItem
