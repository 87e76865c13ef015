"""Headless Chromium for the console's browser tests: the machine's own Chromium, driven by Playwright.

Playwright's browser download needs the internet, which CI does not have; Debian's ``chromium`` package does the same
job. ``make test`` provides one or the other (the Makefile's ``browser`` target): the machine's Chromium when there is
one or apt can install it, else Playwright's own, which ``chromium()`` answers with None for (Playwright then finds it
in its cache). ``ONCALL_CHROMIUM`` names another executable. The flags keep Chromium from phoning home (a closed
network refuses it, noisily) and let it run as root in a container.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: where the tests write screenshots of every page for a reviewer (not committed)
SCREENSHOTS = Path(os.environ.get("ONCALL_SCREENSHOTS", ROOT / ".artifacts" / "console-screenshots"))
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]


def chromium() -> str | None:
    named = os.environ.get("ONCALL_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None
