"""Logging for runs: an appended log file, and stderr fit for a terminal or for cron.

On a terminal stderr shows Rich output (progress bars, coloured warnings). Without
one (cron appends stderr to a log) stderr carries only warnings and errors as
plain lines. The log file gets everything at ``log.level``. Known secret values
(``memberkit.secrets``) are redacted from every record, wherever they appear, by
a filter on each handler.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from pathlib import Path

from rich.logging import RichHandler

from memberkit.secrets import redact, register_secret, registered_secrets

LOGGER_NAME = "memberkit"
LOG_FILE_NAME = "process.log"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class SecretMaskingFilter(logging.Filter):
    """Redact every registered secret (``memberkit.secrets``) from a record, wherever it is.

    The message with its arguments, and the text of an attached traceback, are
    formatted here and redacted, so no formatter downstream sees the raw value.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        for secret in secrets:
            register_secret(secret)

    def add(self, secret: str) -> None:
        register_secret(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        if not registered_secrets():
            return True
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_TRACEBACKS = logging.Formatter()
_mask = SecretMaskingFilter()


def mask_secret(value: str) -> None:
    """Register a secret so no log line, message or output file ever shows it."""
    register_secret(value)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def configure_logging(log_dir: Path | None, level: str, *, verbose: bool = False) -> Path | None:
    """Set up the ``memberkit`` logger; return the log file path (None without a log dir)."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False

    log_file: Path | None = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_file = log_dir / LOG_FILE_NAME
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setLevel(getattr(logging, level))
        file_handler.setFormatter(logging.Formatter(_FORMAT))
        file_handler.addFilter(_mask)
        logger.addHandler(file_handler)

    stderr_handler: logging.Handler
    if stderr_is_terminal():
        stderr_handler = RichHandler(show_path=False, markup=False, rich_tracebacks=False)
        stderr_handler.setLevel(logging.INFO if verbose else logging.WARNING)
    else:
        stderr_handler = logging.StreamHandler(sys.stderr)
        stderr_handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        stderr_handler.setLevel(logging.WARNING)
    stderr_handler.addFilter(_mask)
    logger.addHandler(stderr_handler)
    return log_file


def get_logger(name: str) -> logging.Logger:
    """A child of the ``memberkit`` logger, e.g. ``get_logger(__name__)``."""
    if name.startswith(LOGGER_NAME):
        return logging.getLogger(name)
    return logging.getLogger(f"{LOGGER_NAME}.{name}")
