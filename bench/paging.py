"""A storm of pages for one person: how long until every incident is on their phone, in how many messages, and what
each page costs in DynamoDB, with digests (the product) and with one message per rate window (``digest_max=1``).

Runs the product on the emulator (the real incident-lifecycle ASL executed by Step Functions, Lambda tasks and the
page queue's consumer in-process, the fake Telegram Bot API on 127.0.0.1 with Telegram's one-message-a-second per
chat enforced by the product's own shared windows). N incidents are opened at once for one on-call person; the clock
is the wall clock, so the times are what a person would see on the emulator (AWS adds its own latencies; SQS's
delay has whole seconds).

    .venv/bin/python bench/paging.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

import tests.conftest  # noqa: E402,F401  (test-only credentials and a cheap KDF: this runs against the emulator)
from bench.incidents import counting, diff, quiet  # noqa: E402

STORMS = (1, 5, 20, 50)


def main() -> None:
    from oncall import wiring
    from oncall.domain.escalation import Level, Target, TargetType
    from oncall.domain.incidents import Severity
    from oncall.domain.users import Role
    from tests.support.identity import make_user
    from tests.support.lifecycle import lifecycle_stack
    from tests.support.telegram import linked_user

    rows: list[tuple[str, int, float, float, int, float, float]] = []
    with lifecycle_stack() as stack, counting() as counter:
        admin = make_user(Role.ADMIN)
        catalog = wiring.incidents.catalog_service()
        incidents = wiring.incidents.incident_service()

        def on_phone(chat: int) -> tuple[set[str], int]:
            seen: set[str] = set()
            sent = 0
            for message in stack.telegram.sent(chat):
                rows_ = (message.get("reply_markup") or {}).get("inline_keyboard", [])
                ids = {b["callback_data"].split(":", 2)[2] for row in rows_ for b in row}
                if ids:
                    sent += 1
                    seen |= ids
            return seen, sent

        for digest_max, label in ((20, "digests"), (1, "one per window")):
            wiring.notifications.notification_service().settings.digest_max = digest_max
            for n in STORMS:
                with quiet():
                    person, chat = linked_user()
                    policy = catalog.create_policy(
                        admin, name="p", levels=[Level((Target(TargetType.USER, person.id),), 3600)]
                    )
                    service, _ = catalog.create_service(admin, name="svc", escalation_policy_id=policy.id)
                    time.sleep(1.1)  # a fresh rate window for the chat
                before = counter.snapshot()
                started = time.monotonic()
                ids = {
                    incidents.create(admin, title=f"node {i} down", service_id=service.id, severity=Severity.HIGH).id
                    for i in range(n)
                }
                deadline = started + 120
                while True:
                    with quiet():
                        seen, sent = on_phone(chat)
                    if seen >= ids or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                took = time.monotonic() - started
                time.sleep(0.5)  # the last deliveries' records and timeline lines
                calls, wru, _rru = diff(before, counter.snapshot())
                delivered = len(seen & ids)
                rows.append((label, n, took, took / n, sent, calls / n, wru / n))
                if delivered != n:
                    print(f"!! {label} n={n}: only {delivered} delivered in {took:.1f}s", file=sys.stderr)
        wiring.notifications.notification_service().settings.digest_max = 20

    print("\nA storm of N incidents for one on-call person (Telegram: 1 message/s per chat)\n")
    print("| mode | N | all on the phone (s) | s per incident | messages | DynamoDB calls / inc. | WRU / inc. |")
    print("|---|---|---|---|---|---|---|")
    for label, n, took, per, sent, calls, wru in rows:
        print(f"| {label} | {n} | {took:.1f} | {per:.2f} | {sent} | {calls:.1f} | {wru:.1f} |")
    print(
        "\nDynamoDB calls cover the whole incident up to its page (create, lifecycle tasks, the page and, when it is "
        "queued, its flush); 'one per window' is what the product would do without digests."
    )


if __name__ == "__main__":
    main()
