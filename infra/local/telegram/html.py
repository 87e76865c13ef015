"""Telegram's HTML parse mode, checked as Telegram checks it: only its tags, balanced, every ``<``, ``>`` and ``&``
that is not markup escaped, at most 4,096 characters (UTF-16 code units) once parsed. A page that would be refused by
Telegram is refused by the sandbox too, with Telegram's words, so a rendering bug shows up locally and in tests."""

from __future__ import annotations

from html.parser import HTMLParser

#: what Telegram accepts once entities are parsed
MAX_TEXT = 4096

#: the tags Telegram's HTML parse mode knows; anything else is "Unsupported start tag"
TELEGRAM_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre"}
    | {"blockquote", "tg-emoji"}
)


class _TelegramHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []
        self.error: str | None = None
        self.units = 0

    def _fail(self, why: str) -> None:
        self.error = self.error or why

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self._fail(f'Unsupported start tag "{tag}"')
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self._fail(f'Can\'t find end tag corresponding to start tag "{tag}"')
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        if any(c in data for c in "<>&"):
            self._fail("Can't find end of the entity")
        self.units += len(data.encode("utf-16-le")) // 2

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self._fail(f'Unsupported HTML entity "&{name};"')
        self.units += 1

    def handle_charref(self, name: str) -> None:
        self.units += 1


def html_error(text: str) -> str | None:
    """Why Telegram would refuse ``text`` in HTML parse mode, or None."""
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    if parser.error is None and parser.open:
        parser.error = f'Can\'t find end tag corresponding to start tag "{parser.open[-1]}"'
    if parser.error is None and parser.units > MAX_TEXT:
        return "message is too long"
    return f"can't parse entities: {parser.error}" if parser.error else None
