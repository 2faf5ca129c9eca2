"""The errors memberkit reports to people: a stable code, a message, and what it is about.

The core (domain, files, store, services, integrations) raises these and knows
nothing of command lines or HTTP. Each error carries:

* ``code``: a stable identifier (``config_invalid``, ``not_found``...) that the
  shells map to what they speak: the CLI to an exit code and a hint naming its
  flags (``memberkit.cli.errors``), the web to an HTTP status;
* ``message``: one line saying what is wrong, in the user's words;
* ``hint``: optionally what to do next, without naming a command-line flag;
* structured fields, each None unless known: ``member``, ``file``, ``row``,
  ``column``, ``setting``.

The hierarchy, with each class's code::

    MemberkitError                   failed               anything else that stopped the work
    ├── ConfigError                  config_invalid       a setting: unknown, wrong type or range
    │   └── ConfigNotFoundError      config_not_found     no config file where one was needed
    ├── UsageError                   usage_invalid        command-line arguments that conflict
    ├── InvalidValueError            value_invalid        a malformed or out-of-range value
    ├── InputFileError               input_file_invalid   a file: missing, empty, wrong columns
    ├── LockedError                  locked               another run holds the lock
    ├── NotFoundError                not_found            an unknown member, tier, entry...
    ├── LedgerError                  ledger_refused       a posting the ledger refuses
    │   ├── InsufficientPointsError  insufficient_points  (these three: domain.ledger)
    │   ├── IdempotencyConflictError idempotency_conflict
    │   └── ReversalError            reversal_refused
    ├── SchemaError                  schema_outdated      (store.database) tables out of date
    └── KlaviyoError                 klaviyo_failed       (integrations.klaviyo.errors)
        ├── KlaviyoAuthError         klaviyo_auth
        ├── KlaviyoRequestError      klaviyo_refused
        └── KlaviyoUnavailableError  klaviyo_unavailable

Shells raise ``UsageError``; the core raises ``InvalidValueError`` for a bad
value, whoever supplied it. Other modules may subclass these (keeping or
setting ``code``); a code the CLI does not know is exit 1.

Row-level problems in input files are not exceptions: readers collect them as
values (a rejected row with its reason) so one bad cell never stops a run.

The ``EXIT_*`` constants are the exit codes every command ends with; result
objects (a run with some rows failed) use ``EXIT_PARTIAL``, and the CLI's table
maps each error code to one of them:

    0  done (rows rejected from a source file are warnings, listed in a file)
    3  done, but some rows or profiles failed and are listed in a file
    1  failed
    2  usage or configuration error, including a malformed argument
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3


class MemberkitError(Exception):
    """An error a person can act on. ``hint`` says what to try next."""

    code: ClassVar[str] = "failed"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        member: str | None = None,
        file: Path | str | None = None,
        row: int | None = None,
        column: str | None = None,
        setting: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.member = member
        self.file = file
        self.row = row
        self.column = column
        self.setting = setting

    def __str__(self) -> str:
        return self.message

    def fields(self) -> dict[str, str | int]:
        """The structured fields that are known, e.g. ``{"file": ..., "row": 12}``."""
        out: dict[str, str | int] = {}
        for name in ("member", "file", "row", "column", "setting"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value if isinstance(value, int) else str(value)
        return out

    def to_json(self) -> dict[str, Any]:
        """The error as plain data, for ``--json`` output and the web's API."""
        return {"code": self.code, "message": self.message, "hint": self.hint, **self.fields()}


class ConfigError(MemberkitError):
    """A setting is missing, unknown, of the wrong type, or out of range."""

    code = "config_invalid"


class ConfigNotFoundError(ConfigError):
    """No config file where one was named or needed."""

    code = "config_not_found"


class UsageError(MemberkitError):
    """Command-line arguments that are malformed or conflict (raised by shells, not the core)."""

    code = "usage_invalid"


class InvalidValueError(MemberkitError):
    """A value handed to the core is malformed or out of range (points, a date, a name...)."""

    code = "value_invalid"


class InputFileError(MemberkitError):
    """An input file cannot be used at all (missing, empty, required column absent)."""

    code = "input_file_invalid"


class LockedError(MemberkitError):
    """Another run of the same job holds its lock."""

    code = "locked"


class NotFoundError(MemberkitError):
    """Something asked for by name or id does not exist."""

    code = "not_found"
