"""Normalisers: each monitoring source's payload → ``oncall.domain.alerts.Alert`` (pure; no I/O)."""
