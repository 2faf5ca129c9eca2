"""Secret values known to this process, and the one function that redacts them from text.

A secret (the Klaviyo private key) is registered once, where it is read or
handed to a client. From then on ``redact(text)`` replaces every occurrence of
its value with ``****``, whoever put it into the text: our own messages, an
error body a server echoed back, a log record from a library. Every place text
leaves the process goes through it: log handlers (``runlog``), the CLI's error
line, the failed-profiles file, and the Klaviyo errors themselves.

Matching is by exact value, longest first (a key that contains another key is
masked whole). Values shorter than ``MIN_SECRET_LENGTH`` are not registered:
masking a two-letter "key" would garble every message without protecting
anything real (Klaviyo private keys are ``pk_`` plus 34 characters).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

MASK = "****"
MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
# Kept longest first, so a secret that contains another is replaced whole.
_secrets: tuple[str, ...] = ()


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret; from now on ``redact`` masks it everywhere."""
    global _secrets
    if value is None:
        return
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value not in _secrets:
            _secrets = tuple(sorted((*_secrets, value), key=len, reverse=True))


def registered_secrets() -> tuple[str, ...]:
    """The registered secret values (for tests and diagnostics; never print them)."""
    return _secrets


def forget_secrets(values: Iterable[str] | None = None) -> None:
    """Unregister ``values`` (all secrets when None); tests use it to stay independent."""
    global _secrets
    with _lock:
        if values is None:
            _secrets = ()
        else:
            drop = set(values)
            _secrets = tuple(s for s in _secrets if s not in drop)


def redact(text: str) -> str:
    """``text`` with every registered secret's value replaced by ``****``."""
    secrets = _secrets
    if not secrets or not text:
        return text
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_data(value: Any) -> Any:
    """A copy of JSON-like ``value`` (dicts, lists, strings) with secrets redacted in strings."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k) if isinstance(k, str) else k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(v) for v in value]
    return value
