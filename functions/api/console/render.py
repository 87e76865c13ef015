"""Templates and assets: Jinja2 with autoescaping on, loaded once per warm container.

Imported only when a console request arrives, so the API's cold start (alert intake, paging acknowledgements) never
pays for Jinja2. Assets are files next to the templates, served by the product itself (no CDN: the console works
offline and its CSP allows only its own origin); their URLs carry a content hash, so a browser may keep them for a
year and still never runs a stale script after an upgrade.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
ASSET_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}


@cache
def assets() -> dict[str, tuple[bytes, str]]:
    """name → (content, short content hash) for every file in ``static/``."""
    out: dict[str, tuple[bytes, str]] = {}
    for path in sorted(STATIC.iterdir()):
        if path.suffix in ASSET_TYPES:
            data = path.read_bytes()
            out[path.name] = (data, hashlib.sha256(data).hexdigest()[:12])
    return out


def asset_url(name: str) -> str:
    return f"/console/static/{name}?v={assets()[name][1]}"


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def when(value: str | datetime | None, tz: str = "UTC", fmt: str = "%a %d %b %H:%M") -> str:
    moment = parse_time(value) if isinstance(value, str) or value is None else value
    return moment.astimezone(zone(tz)).strftime(fmt) if moment else "—"


def duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "—"
    total = round(float(seconds))
    if total < 90:
        return f"{total} s"
    if total < 90 * 60:
        return f"{total // 60} min"
    if total < 48 * 3600:
        return f"{total // 3600} h {total % 3600 // 60:02d} min"
    return f"{total // 86400} d {total % 86400 // 3600} h"


def short(seconds: float | int | None) -> str:
    """A duration in one unit, for axis and band labels."""
    if seconds is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th... (a choice's rank in a form)."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["asset"] = asset_url
    env.filters["when"] = when
    env.filters["duration"] = duration
    env.filters["ordinal"] = ordinal
    return env


def page(template: str, **values: Any) -> str:
    return str(environment().get_template(template).render(**values))
