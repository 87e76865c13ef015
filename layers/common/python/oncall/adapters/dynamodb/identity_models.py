"""Compatibility for the local runner's first-admin bootstrap (``infra/local/bootstrap.py``), which names identity's
tables here before building ``DynamoUserStore()`` without arguments. Everything else passes the table (and, for
another endpoint, a ``kit.client(endpoint_url=...)``) to the store's constructor; this module goes once the bootstrap
does the same. Nothing in the product calls ``bind``."""

from __future__ import annotations

from typing import Any

from oncall.adapters.dynamodb import kit

_bound: dict[str, Any] = {}


def bind(users_table: str, auth_table: str, region: str, host: str | None = None) -> None:
    """Remember where ``DynamoUserStore()`` without a table should look (the auth table is not used that way)."""
    del auth_table
    _bound.update(table=users_table, region=region, host=host)


def bound_users() -> tuple[str, Any]:
    """The table and client ``bind`` named; an error when nothing was bound."""
    if not _bound:
        raise RuntimeError("DynamoUserStore needs its table: DynamoUserStore(table, client)")
    return _bound["table"], kit.client(endpoint_url=_bound["host"], region=_bound["region"])
