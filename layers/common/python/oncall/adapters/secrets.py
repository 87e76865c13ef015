"""The one secret reader every function uses: JWT signing keys, the Telegram bot token and webhook secret, the
Grafana HMAC secret, the metrics token (docs/architecture.md, "Configuration"). Deployed, each is an SSM SecureString
parameter (``/<stack>/secrets/<name>``, decrypted by SSM with the account's ``aws/ssm`` key).

Each secret is fetched at most once per ``max_age`` per execution environment: a cold start pays one
``GetParameter`` per secret it needs, and a rotated value (JWT keys) still reaches warm functions within minutes.
A secret given inline (``SecretRef.inline``: local runs and tests) is used as it is and nothing is fetched.

Powertools' ``parameters.get_parameter`` caches the same way, but importing it costs ~15 ms on top of boto3 (measured
on the functions' cold start), for a dictionary and a lock. Values never reach a log or an exception message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from oncall.settings import SecretRef

#: how long a fetched value is trusted; JWT keys are the secret that rotates, and their docs promise 5 minutes
DEFAULT_MAX_AGE_S = 300.0


class SecretUnavailable(RuntimeError):
    """SSM refused or failed, or the parameter holds no usable text: a deployment error."""


class SecretReader:
    def __init__(
        self,
        client: Any = None,
        *,
        region: str | None = None,
        max_age: float = DEFAULT_MAX_AGE_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._region = region
        self._max_age = max_age
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("ssm", region_name=self._region)
        return self._client

    def value(self, ref: SecretRef) -> str:
        """The secret's text, stripped: inline, else fetched (cached). Neither configured: ``SettingsError`` naming
        both variables."""
        if ref.inline:
            return ref.inline.strip()
        if not ref.secret_id:
            raise ref.missing()
        try:
            return self.get(ref.secret_id)
        except SecretUnavailable as exc:
            raise SecretUnavailable(f"{ref.variables[1]}: {exc}") from None

    def get(self, secret_id: str) -> str:
        with self._lock:
            now = self._monotonic()
            cached = self._cache.get(secret_id)
            if cached is not None and now - cached[0] < self._max_age:
                return cached[1]
            text = self._fetch(secret_id)
            self._cache[secret_id] = (now, text)
            return text

    def _fetch(self, secret_id: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            reply = self.client.get_parameter(Name=secret_id, WithDecryption=True)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise SecretUnavailable(f"secret {secret_id}: {code}") from None
        except BotoCoreError as exc:
            raise SecretUnavailable(f"secret {secret_id}: {exc.__class__.__name__}") from None
        text = (reply.get("Parameter") or {}).get("Value")
        if not isinstance(text, str) or not text.strip():
            raise SecretUnavailable(f"secret {secret_id} holds no text")
        return text.strip()
