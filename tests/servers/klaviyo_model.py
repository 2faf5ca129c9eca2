"""The local Klaviyo's records, limits and errors (see ``klaviyo_server.py``).

Klaviyo's documented limits and revisions, the slotted profile record that lets
the server hold a million profiles, scripted faults, import jobs, the sliding
rate windows, JSON:API errors in Klaviyo's shape ``{"errors":[{"id","status",
"code","title","detail","source"}]}``, and a JSON encoder that writes ``Decimal``
as an exact JSON number (``10.50``), never through float.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_PROFILES_PER_JOB = 10_000
MAX_EVENTS_PER_JOB = 1_000
MAX_PAGE_SIZE = 100
ALL_SCOPES = frozenset(
    {"profiles:read", "profiles:write", "segments:read", "lists:write", "events:write"}
)

# Route name -> (burst per second, steady per minute): Klaviyo's tiers.
REAL_RATE_LIMITS: dict[str, tuple[int, int]] = {
    "profiles:list": (75, 700),
    "segments:profiles": (75, 700),
    "profile-bulk-import-jobs:create": (10, 150),
    "profile-bulk-import-jobs:get": (10, 150),
    "events:create": (350, 3500),
    "event-bulk-create-jobs:create": (10, 150),
}
ROUTE_SCOPES: dict[str, tuple[str, ...]] = {
    "profiles:list": ("profiles:read",),
    "segments:profiles": ("segments:read", "profiles:read"),
    "profile-bulk-import-jobs:create": ("profiles:write",),
    "profile-bulk-import-jobs:get": ("profiles:read",),
    "events:create": ("events:write",),
    "event-bulk-create-jobs:create": ("events:write",),
}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")

#: The dated revisions Klaviyo has released (its API changelog), each also as a
#: ``.pre`` beta. A request naming any other value (``1999-01-01``, ``latest``,
#: ``2026-07-16``) is refused with a 400, as Klaviyo refuses it.
KNOWN_REVISIONS: frozenset[str] = frozenset(
    {
        "2023-01-24",
        "2023-02-22",
        "2023-06-15",
        "2023-07-15",
        "2023-08-15",
        "2023-09-15",
        "2023-10-15",
        "2023-12-15",
        "2024-02-15",
        "2024-05-15",
        "2024-06-15",
        "2024-07-15",
        "2024-10-15",
        "2025-01-15",
        "2025-04-15",
        "2025-07-15",
        "2025-10-15",
        "2026-01-15",
        "2026-04-15",
        "2026-07-15",
        "2026-10-15",
    }
)
REVISION_RE = re.compile(r"(\d{4}-\d{2}-\d{2})(\.pre)?")


def revision_problem(revision: str | None) -> str | None:
    """Why a ``revision`` header is refused, or None when Klaviyo would serve it."""
    if not revision:
        return "The 'revision' header is required."
    match = REVISION_RE.fullmatch(revision)
    if match is None:
        return f"Invalid revision {revision!r}: a revision is a date like 2026-07-15."
    if match.group(1) not in KNOWN_REVISIONS:
        return (
            f"Invalid revision {revision!r}: no such revision. "
            f"The latest revision is {max(KNOWN_REVISIONS)}."
        )
    return None


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def parse_iso(text: str) -> float:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


class Profile:
    __slots__ = ("created", "email", "id", "properties", "updated")

    def __init__(
        self, id: str, email: str, created: float, properties: dict[str, Any] | None
    ) -> None:
        self.id = id
        self.email = email
        self.created = created
        self.updated = created
        self.properties = properties if properties is not None else {}


@dataclass
class Fault:
    """A scripted fault: the next ``times`` requests to ``route`` (None = any) misbehave.

    kind: ``status`` (answer ``status``; a 429 carries ``retry_after``), ``drop``
    (close the connection without answering), ``slow`` (sleep ``delay`` seconds first),
    ``never_complete`` (a created bulk import job stays processing forever).
    ``echo_key``: a ``status`` fault's error detail quotes the request's
    ``Authorization`` header, as some misbehaving proxies and servers do.

    Faults fire only on requests that passed authentication, the revision check
    and the rate limits, as a real server's application errors would.
    """

    kind: str
    route: str | None = None
    times: int = 1
    status: int = 500
    retry_after: int = 1
    delay: float = 0.0
    # Only requests whose body contains these bytes (e.g. one chunk's first email).
    match: bytes | None = None
    echo_key: bool = False


@dataclass
class ImportJob:
    id: str
    created: float  # on the server's clock
    created_wall: float  # Unix time, for created_at
    profiles: list[dict[str, Any]]
    never_complete: bool = False
    applied: bool = False
    errors: list[dict[str, Any]] = field(default_factory=list)
    completed_at: float | None = None


@dataclass
class RequestRecord:
    at: float
    method: str
    path: str
    route: str
    status: int
    body: bytes = b""


class RateWindow:
    """Server-side sliding windows for one route."""

    def __init__(self, burst: int, steady: int, scale: float = 1.0) -> None:
        self.burst = burst
        self.steady = steady
        self.second = 1.0 * scale
        self.minute = 60.0 * scale
        self.sent: deque[float] = deque()

    def admit(self, now: float) -> float:
        """0 when admitted (and counted), else the seconds until a slot frees."""
        while self.sent and self.sent[0] <= now - self.minute:
            self.sent.popleft()
        wait = 0.0
        if len(self.sent) >= self.steady:
            wait = max(wait, self.sent[-self.steady] + self.minute - now)
        if len(self.sent) >= self.burst:
            wait = max(wait, self.sent[-self.burst] + self.second - now)
        if wait > 0:
            return wait
        self.sent.append(now)
        return 0.0


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        pointer: str | None = None,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.source: dict[str, str] = {}
        if pointer is not None:
            self.source["pointer"] = pointer
        if parameter is not None:
            self.source["parameter"] = parameter
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "errors": [
                {
                    "id": str(uuid.uuid4()),
                    "status": self.status,
                    "code": self.code,
                    "title": self.title,
                    "detail": self.detail,
                    "source": self.source,
                }
            ]
        }


def page_size(params: dict[str, str], default: int = 20) -> int:
    """``page[size]`` as Klaviyo reads it: plain digits, 1..100; anything else is a 400."""
    text = params.get("page[size]")
    if text is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise invalid(f"page[size] must be an integer, got {text[:40]!r}.", parameter="page[size]")
    size = int(text)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise invalid(f"page[size] must be between 1 and {MAX_PAGE_SIZE}.", parameter="page[size]")
    return size


def invalid(detail: str, *, pointer: str | None = None, parameter: str | None = None) -> ApiError:
    return ApiError(400, "invalid", "Invalid input.", detail, pointer=pointer, parameter=parameter)


class DropConnection(Exception):
    """Close the connection without answering."""


def require(doc: Any, key: str, kind: type, pointer: str) -> Any:
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, kind):
        raise invalid(f"'{pointer}' is required and must be a {kind.__name__}.", pointer=pointer)
    return value


def dumps(value: Any) -> bytes:
    """A response body: JSON with ``Decimal`` as exact numbers (``10.50`` stays ``10.50``)."""
    out: list[str] = []
    _write_json(value, out)
    return "".join(out).encode("utf-8")


def _write_json(value: Any, out: list[str]) -> None:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value} as a JSON number")
        out.append(f"{value:f}")
    elif isinstance(value, dict):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(key)))
            out.append(":")
            _write_json(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write_json(item, out)
        out.append("]")
    else:  # str, int, float, bool, None: the standard spellings
        out.append(json.dumps(value))


def plain(value: Any) -> Any:
    """JSON-ready copy (Decimals stay exact numbers in responses via the encoder)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def matches(profile: Profile, terms: list[tuple[str, str, Any]]) -> bool:
    for op, name, value in terms:
        if name == "email":
            if profile.email.lower() != str(value).lower():
                return False
        elif name == "id":
            if profile.id != value:
                return False
        else:
            mine = getattr(profile, name)
            ok = {
                "greater-than": mine > value,
                "greater-or-equal": mine >= value,
                "less-than": mine < value,
                "less-or-equal": mine <= value,
            }[op]
            if not ok:
                return False
    return True
