"""The errors memberkit reports to people, and the exit code each one means.

Every command of the project ends with one of four exit codes:

    0  done (rows rejected from a source file are warnings, listed in a file)
    3  done, but some rows or profiles failed and are listed in a file
    1  failed
    2  usage or configuration error, including a malformed argument

The hierarchy::

    MemberkitError               exit 1, the message says what failed and what to do
    ├── ConfigError              exit 2, a setting, naming the file and the key
    ├── UsageError               exit 2, a command-line argument
    ├── InputFileError           exit 1, an input file: missing, empty, wrong columns
    ├── LockedError              exit 1, another run holds the lock
    └── NotFoundError            exit 1, an unknown member, tier, entry...

Domain code raises these (or collects row-level problems as values); the CLI
turns them into one line plus an optional hint, never a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3


class MemberkitError(Exception):
    """An error a person can act on. ``hint`` says what to try next."""

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(MemberkitError):
    """A setting is missing, unknown, of the wrong type, or out of range."""

    exit_code = EXIT_USAGE


class UsageError(MemberkitError):
    """A command-line argument is malformed or two flags conflict."""

    exit_code = EXIT_USAGE


class InputFileError(MemberkitError):
    """An input file cannot be used at all (missing, empty, required column absent)."""


class LockedError(MemberkitError):
    """Another run of the same job holds its lock file."""


class NotFoundError(MemberkitError):
    """Something named on the command line does not exist."""
