"""Composition: builds services from adapters, lazily, once per cold start. Layered without circles (a module imports
only those below it; import-linter checks it):

    seam → core (people, identity, schedules) → notifications (channels, the notification service)
         → incidents (catalog, incidents, the lifecycle's tasks) and reminders
         → telegram (the bot), slack (the Slack app), sms (numbers, ack links), alerts (ingestion), webhooks
           (the notifier)

Handlers import the module they need (``from oncall.wiring import incidents``) and never construct adapters
themselves, so importing a handler stays cheap and a test can swap a part (``wiring.override(clock=...)``).
"""

from oncall.wiring import alerts, core, incidents, notifications, reminders, slack, sms, telegram, webhooks
from oncall.wiring.seam import clock, once, override, reset, utc_now

__all__ = [
    "alerts",
    "clock",
    "core",
    "incidents",
    "notifications",
    "once",
    "override",
    "reminders",
    "reset",
    "slack",
    "sms",
    "telegram",
    "utc_now",
    "webhooks",
]
