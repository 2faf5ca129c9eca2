"""What can go wrong talking to Klaviyo, as errors a person can act on.

The hierarchy::

    MemberkitError (memberkit.errors)
    └── KlaviyoError                 exit 1: anything from the Klaviyo API
        ├── KlaviyoAuthError         401 (bad or missing key) or 403 (scope missing): stops the run
        ├── KlaviyoRequestError      another 4xx: Klaviyo refused this request; its detail is kept
        └── KlaviyoUnavailableError  429/5xx/timeouts/dropped connections after every retry

The API key never appears in any of these messages: every message, hint and
error detail is redacted (``memberkit.secrets.redact``) when the error is made,
so a server that echoes the key in its error body cannot put it on stderr or
into the failed-profiles file.
"""

from __future__ import annotations

from typing import Any

from memberkit.errors import MemberkitError
from memberkit.secrets import redact, redact_data


class KlaviyoError(MemberkitError):
    """A Klaviyo API call failed."""

    code = "klaviyo_failed"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(redact(message), hint=None if hint is None else redact(hint))


class KlaviyoAuthError(KlaviyoError):
    """The key was refused (401) or lacks the scope the call needs (403)."""

    code = "klaviyo_auth"


class KlaviyoRequestError(KlaviyoError):
    """Klaviyo refused the request (a 4xx other than 401/403/429), with its error detail."""

    code = "klaviyo_refused"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        errors: list[dict[str, Any]] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.errors: list[dict[str, Any]] = redact_data(errors or [])


class KlaviyoUnavailableError(KlaviyoError):
    """Klaviyo kept failing (rate limited, server errors, timeouts) after every retry."""

    code = "klaviyo_unavailable"


def error_detail(body: Any) -> str:
    """One line from a JSON:API error body: ``code: detail (source)`` for each error, redacted."""
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return ""
    parts = []
    for err in body["errors"]:
        if not isinstance(err, dict):
            continue
        text = str(err.get("detail") or err.get("title") or err.get("code") or "")
        code = err.get("code")
        if code and code not in text:
            text = f"{code}: {text}"
        source = err.get("source")
        if isinstance(source, dict):
            where = source.get("pointer") or source.get("parameter")
            if where:
                text += f" (at {where})"
        parts.append(text)
    # Bodies come from the server: redact whatever secret it may have echoed.
    return redact("; ".join(p for p in parts if p))
