"""The console's pages, one module per area; each reads and writes through the API (``ctx.api``), never around it.

Importing this package registers every page with ``console.dispatch``."""

from console.pages import analytics, catalog, incidents, me, now, people, schedules, signin, teams

__all__ = ["analytics", "catalog", "incidents", "me", "now", "people", "schedules", "signin", "teams"]
