"""Password policy (NIST SP 800-63B / OWASP): length is what matters; no composition rules, no truncation."""

from __future__ import annotations

from oncall.domain.errors import InvalidInput

MIN_LENGTH = 12
#: bounded so a multi-megabyte "password" cannot be used to burn KDF time
MAX_LENGTH = 256


def check_password(password: str, field: str = "password") -> str:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(field, f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(field, f"must be at most {MAX_LENGTH} characters")
    if "\x00" in password:
        raise InvalidInput(field, "must not contain NUL characters")
    return password
