"""Construct ids from topology names, stable so that logical ids (and therefore deployed resources) never churn."""

from __future__ import annotations

import re


def cid(name: str) -> str:
    """``telegram-webhook`` → ``TelegramWebhook``; ``api`` → ``Api``."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)
