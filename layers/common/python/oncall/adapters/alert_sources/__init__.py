"""Monitoring sources: each one's payload → ``oncall.domain.alerts.Alert`` (pure normalisers), and its
``AlertSource`` for alert intake: who sent a payload, and the alerts it means."""
