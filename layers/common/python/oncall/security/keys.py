"""JWT signing keys: a current key plus older ones still accepted, so keys rotate without logging everyone out.

One format everywhere, a flat JSON object: ``{"current": "<kid>", "<kid>": "<secret>", "<older kid>": "<secret>"}``.
It is what CDK's ``generateSecretString(secretStringTemplate='{"current":"k1"}', generateStringKey="k1")`` produces,
and what ``ONCALL_JWT_KEYS`` holds locally. To rotate: add a new kid, point ``current`` at it, and drop the old kid
once the refresh TTL has passed (tokens signed with a dropped kid stop verifying).

Sources: ``ONCALL_JWT_KEYS`` (local runner, tests) or the SSM SecureString parameter named by ``ONCALL_SECRET_JWT_KEYS``
(the deployed stack), read through the shared secrets reader (``oncall.adapters.secrets``), which re-reads a secret
at most every 5 minutes so a rotation reaches warm functions.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from oncall.settings import SecretRef

#: HS256 wants a key at least as long as its output (RFC 7518 §3.2)
MIN_KEY_BYTES = 32


class KeyConfigError(RuntimeError):
    """The key material is missing or unusable: a deployment error, never a client's fault."""


@dataclass(frozen=True)
class KeySet:
    current_kid: str
    keys: Mapping[str, bytes]

    def signing_key(self) -> tuple[str, bytes]:
        return self.current_kid, self.keys[self.current_kid]

    def verification_key(self, kid: str) -> bytes | None:
        return self.keys.get(kid)


def parse_keyset(text: str) -> KeySet:
    """The JSON key set; a value that is not a JSON object is taken as one raw key (a secret created as a plain
    random string), its kid derived from the key so a replaced secret never verifies the old one's tokens."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        raw = None
    if not isinstance(raw, dict):
        material = text.strip().encode()
        if len(material) < MIN_KEY_BYTES:
            raise KeyConfigError(f"JWT key is shorter than {MIN_KEY_BYTES} bytes")
        kid = "s" + hashlib.sha256(material).hexdigest()[:12]
        return KeySet(current_kid=kid, keys={kid: material})
    if not isinstance(raw.get("current"), str):
        raise KeyConfigError('JWT key set must be an object with "current" naming a kid')
    keys: dict[str, bytes] = {}
    for kid, value in raw.items():
        if kid == "current":
            continue
        if not isinstance(value, str):
            raise KeyConfigError(f"JWT key {kid!r} must be a string")
        material = value.encode()
        if len(material) < MIN_KEY_BYTES:
            raise KeyConfigError(f"JWT key {kid!r} is shorter than {MIN_KEY_BYTES} bytes")
        keys[kid] = material
    current = str(raw["current"])
    if current not in keys:
        raise KeyConfigError(f"JWT key set names current kid {current!r} but holds no such key")
    return KeySet(current_kid=current, keys=keys)


def generate_keyset_json(kid: str = "k1") -> str:
    """A fresh key set (64 url-safe characters ≈ 384 bits), e.g. for the local runner's data folder."""
    return json.dumps({"current": kid, kid: secrets.token_urlsafe(48)})


class KeySource:
    """The key set from its ``SecretRef`` (``oncall.settings.KeySettings``), read through the shared secrets reader,
    whose cache decides when a rotated secret is seen; the parsed set is kept while the text is unchanged."""

    def __init__(self, keys: SecretRef, read: Callable[[SecretRef], str]) -> None:
        if not keys.configured:
            raise keys.missing()
        self._keys = keys
        self._read = read
        self._parsed: tuple[str, KeySet] | None = None
        self._lock = threading.Lock()

    def get(self) -> KeySet:
        text = self._read(self._keys)
        with self._lock:
            if self._parsed is None or self._parsed[0] != text:
                self._parsed = (text, parse_keyset(text))
            return self._parsed[1]
