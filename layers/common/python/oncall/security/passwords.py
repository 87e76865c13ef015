"""Argon2id password hashing (argon2-cffi), with the cost taken from settings so tests can lower it.

``verify`` is constant-time in the hash comparison (argon2's own) and never raises for a wrong password. The dummy
hash lets a login for an unknown username do exactly the work of a real one, so neither timing nor the answer says
whether the username exists.
"""

from __future__ import annotations

import threading

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Argon2Hasher:
    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._ph = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._dummy: str | None = None
        self._lock = threading.Lock()

    @property
    def parameters(self) -> str:
        p = self._ph
        return f"argon2id m={p.memory_cost}KiB t={p.time_cost} p={p.parallelism}"

    def hash(self, password: str) -> str:
        return self._ph.hash(password)

    def verify(self, encoded: str, password: str) -> bool:
        try:
            return self._ph.verify(encoded, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        try:
            return self._ph.check_needs_rehash(encoded)
        except (InvalidHashError, ValueError):
            return True

    def dummy_hash(self) -> str:
        """A hash of a random secret at the current parameters; verifying against it costs what a real check costs."""
        with self._lock:
            if self._dummy is None:
                import secrets

                self._dummy = self._ph.hash(secrets.token_urlsafe(24))
            return self._dummy
