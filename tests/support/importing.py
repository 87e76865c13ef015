"""What the importer's functional tests share: the people an import meets (an admin to act as, one person matched
by email), the CLI run with its printed text and JSON result, and the plan counted by operation."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from oncall.domain.users import Role
from tests.support.identity import make_user


def prepared_hub(monkeypatch: pytest.MonkeyPatch, token_variable: str, token: str) -> Any:
    from infra.migrate.outcome import Hub
    from oncall.settings import get_settings

    monkeypatch.setenv(token_variable, token)
    # rotations kept materialised 16 days ahead (the comparison's 14 and a margin), not 8 weeks: moto's queries cost
    # grows with everything stored
    monkeypatch.setenv("ONCALL_ROTATION_HORIZON_DAYS", "16")
    get_settings.cache_clear()
    make_user(Role.ADMIN, username="importer")
    make_user(Role.RESPONDER, username="ana-already-here", email="ana@acme.example")
    return Hub.from_wiring()


def run_import(
    source: str, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, Any]:
    """``python -m infra.migrate <source>`` against ``url`` as the admin: exit status, what it printed, its JSON."""
    from infra.migrate import cli

    out_file = tmp_path / f"result-{time.monotonic_ns()}.json"
    status = cli.main([source, "--base-url", url, "--as", "importer", "--json", str(out_file), *extra])
    printed = capsys.readouterr()
    result = json.loads(out_file.read_text()) if out_file.exists() else None
    return status, printed.out + printed.err, result


def ops(result: Any, kind: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in result["actions"]:
        if a["kind"] == kind:
            out[a["op"]] = out.get(a["op"], 0) + 1
    return out
