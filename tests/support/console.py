"""A cookie-keeping client for the console's HTML, through the real API handler in-process (functional tests).

It does what a browser does with the console's forms and nothing more: keeps cookies by name, sends them back, reads
the CSRF token out of the page's hidden field and posts it with the form.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from tests.support.lambdas import HttpResult, call_api

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Browser:
    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}
        self.set_cookie_lines: list[str] = []
        self.csrf = ""

    def _send(self, method: str, path: str, body: str | None = None) -> HttpResult:
        headers = {"x-forwarded-proto": "https"}
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["content-type"] = "application/x-www-form-urlencoded"
        got = call_api(method, path, headers=headers, body=body)
        lines = [line for line in (got.header("set-cookie") or "").split("\n") if line]
        self.set_cookie_lines = lines
        for line in lines:
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in line:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        found = _CSRF.search(got.raw.decode(errors="replace"))
        if found:
            self.csrf = found.group(1)
        return got

    def get(self, path: str) -> HttpResult:
        return self._send("GET", path)

    def post(self, path: str, form: dict[str, Any] | None = None, *, csrf: bool = True) -> HttpResult:
        fields = dict(form or {})
        if csrf:
            fields.setdefault("csrf", self.csrf)
        return self._send("POST", path, urlencode(fields))

    def sign_in(self, username: str, password: str) -> HttpResult:
        self.get("/console/login")
        return self.post("/console/login", {"username": username, "password": password, "next": "/console"})


def text(result: HttpResult) -> str:
    return result.raw.decode()
