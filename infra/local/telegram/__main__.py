"""``make tg``: act as a Telegram user against a running runner (``POST /_local/telegram/send``) and print what the
bot answered."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from infra.local.telegram.botapi import callback_datas


def main(argv: list[str] | None = None) -> int:
    """``make tg``: act as a Telegram user against a running runner and print what the bot answered."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m infra.local.telegram", description=main.__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the runner's HTTP address")
    parser.add_argument("--chat", type=int, default=1, help="chat id (= the Telegram user id in a private chat)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="a message, e.g. /help or '/start <code>'")
    what.add_argument("--callback-data", help="press the inline button carrying this callback_data")
    parser.add_argument("--message-id", type=int, help="the bot message whose button is pressed (default: latest)")
    args = parser.parse_args(argv)

    body: dict[str, Any] = {"chat_id": args.chat}
    if args.text is not None:
        body["text"] = args.text
    else:
        body["callback_data"] = args.callback_data
    if args.message_id is not None:
        body["message_id"] = args.message_id
    req = urllib.request.Request(  # noqa: S310  # the local runner's address
        f"{args.url.rstrip('/')}/_local/telegram/send",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
            result = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        print(f"{exc.code}: {exc.read().decode(errors='replace')}")
        return 1
    except urllib.error.URLError as exc:
        print(f"cannot reach the runner at {args.url} ({exc.reason}); is `make run` running?")
        return 1
    print(f"you → chat {args.chat}: {args.text if args.text is not None else f'[pressed {args.callback_data}]'}")
    if result["webhook_status"] != 200:
        print(f"the bot's webhook answered {result['webhook_status']}: {result.get('webhook_response')}")
    for reply in result["replies"]:
        buttons = ", ".join(callback_datas(reply.get("reply_markup")))
        print(f"bot {reply['method']} #{reply['message_id']}: {reply['text']}" + (f"  [{buttons}]" if buttons else ""))
    if not result["replies"]:
        print("(the bot sent nothing back)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
