"""The signed session cookie and the key that signs it.

The cookie holds ``{"u": user id or None, "c": CSRF token, "t": signed-in at}``,
signed (not encrypted: nothing in it is secret) with itsdangerous; its
signature carries a timestamp, so a cookie older than ``web.session_hours`` is
refused whatever its ``Max-Age`` said. A visitor who has not signed in yet gets
an anonymous session too, so the login form carries a CSRF token like every
other form.

The key comes from ``MEMBERKIT_SECRET_KEY``, else from ``web.secret_key_file``,
generated there once with 0600 permissions: sessions survive a restart.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from memberkit.config import Settings
from memberkit.errors import ConfigError
from memberkit.secrets import register_secret

COOKIE_NAME = "memberkit_session"
SECRET_KEY_ENV = "MEMBERKIT_SECRET_KEY"  # noqa: S105 - the variable's name
_MIN_KEY_LENGTH = 32


def load_secret_key(settings: Settings) -> str:
    """The session-signing key (see the module docstring)."""
    from_env = os.environ.get(SECRET_KEY_ENV, "").strip()
    if from_env:
        if len(from_env) < _MIN_KEY_LENGTH:
            raise ConfigError(
                f"{SECRET_KEY_ENV} is too short ({len(from_env)} characters)",
                hint=f"use at least {_MIN_KEY_LENGTH} random characters, "
                'e.g. python -c "import secrets; print(secrets.token_urlsafe(48))"',
            )
        register_secret(from_env)
        return from_env
    path = settings.web.secret_key_file
    key = _read_or_create(path)
    register_secret(key)
    return key


def _read_or_create(path: Path) -> str:
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    except OSError as exc:
        raise ConfigError(f"cannot read the secret key file {path}: {exc.strerror}") from None
    if existing:
        return existing
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # O_EXCL: two processes starting at once agree on the first key written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot create the secret key file {path}: {exc.strerror}",
            hint=f"set {SECRET_KEY_ENV} or web.secret_key_file",
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    return key


@dataclass(frozen=True)
class SessionData:
    """What one session cookie says."""

    user_id: int | None
    csrf_token: str


class SessionCodec:
    """Signs and checks session cookies with one key and one lifetime."""

    def __init__(self, key: str, *, max_age_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="memberkit-session")
        self.max_age_seconds = max_age_seconds

    def dumps(self, data: SessionData) -> str:
        """The cookie value for ``data``."""
        payload: dict[str, Any] = {"u": data.user_id, "c": data.csrf_token}
        return self._serializer.dumps(payload)

    def loads(self, value: str | None) -> SessionData | None:
        """The session a cookie value holds; None when missing, forged or expired."""
        if not value:
            return None
        try:
            payload = self._serializer.loads(value, max_age=self.max_age_seconds)
        except BadSignature:  # SignatureExpired is a BadSignature too
            return None
        if not isinstance(payload, dict):
            return None
        user_id = payload.get("u")
        csrf = payload.get("c")
        if not isinstance(csrf, str) or not (user_id is None or isinstance(user_id, int)):
            return None
        return SessionData(user_id, csrf)


def new_session(user_id: int | None) -> SessionData:
    """A fresh session (a new CSRF token each time: signing in rotates it)."""
    return SessionData(user_id, secrets.token_urlsafe(32))
