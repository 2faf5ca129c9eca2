"""Running a writer in a second process, so a 2-core machine uses both cores.

Building XLSX XML, compressing it and quoting JSON for
CSV cost about as much as the rules themselves; a child process can do them
while the parent reads the next customers. The parent batches method calls and
sends them through a pipe (a full pipe makes the parent wait, so memory stays
bounded); the child applies them, in order, to the writer it built.

The child is forked, not spawned: spawning would re-run the caller's
``__main__`` (a script without a ``__main__`` guard would run twice).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from memberkit.errors import MemberkitError
from memberkit.processes import die_with_parent

_BATCH_CALLS = 1_000


class BackgroundWriterError(MemberkitError):
    """The background writer process failed; the message says why."""


def _start_method() -> str:
    return "fork" if _forks() else "spawn"


def _forks() -> bool:
    return sys.platform.startswith("linux")


class BackgroundWriter:
    """A writer object built by ``factory(*args)`` in a child process, fed by ``call``."""

    def __init__(self, factory: Callable[..., Any], *args: Any) -> None:
        context = multiprocessing.get_context(_start_method())
        self._conn, child_conn = context.Pipe(duplex=True)
        self._process = context.Process(  # type: ignore[attr-defined]
            target=_serve,
            # A forked child holds a copy of our end too: it closes it (see _serve).
            args=(child_conn, factory, args, os.getpid(), self._conn if _forks() else None),
            name="memberkit-writer",
            daemon=True,
        )
        self._process.start()
        child_conn.close()
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._closed = False
        self.cpu_seconds = 0.0  # the child's CPU time, known after close()

    def call(self, method: str, *args: Any) -> None:
        """Have the child call ``writer.<method>(*args)`` (batched, in order)."""
        self._pending.append((method, args))
        if len(self._pending) >= _BATCH_CALLS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            try:
                self._conn.send(self._pending)
            except (BrokenPipeError, ConnectionResetError, EOFError):
                raise BackgroundWriterError(self._failure()) from None
            self._pending = []

    def close(self) -> None:
        """Send the last calls, let the child close its writer; raise if anything failed."""
        if self._closed:
            return
        self._closed = True
        try:
            self._flush()
            self._conn.send(None)
            reply = self._conn.recv()
        except (BrokenPipeError, ConnectionResetError, EOFError):
            raise BackgroundWriterError(self._failure()) from None
        finally:
            self._process.join(timeout=60)
            self._conn.close()
        if not (isinstance(reply, tuple) and reply[0] == "ok"):
            raise BackgroundWriterError(f"writing the output files failed: {reply}")
        self.cpu_seconds = float(reply[1])

    def abort(self) -> None:
        """Stop the child without finishing (the caller discards its files)."""
        self._closed = True
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(timeout=10)
        self._conn.close()

    def _failure(self) -> str:
        reason = ""
        try:
            if self._conn.poll(1):
                reason = f": {self._conn.recv()}"
        except (OSError, EOFError):
            pass
        self._process.join(timeout=5)
        code = self._process.exitcode
        return f"the output writer process stopped (exit code {code}){reason}"


def _serve(
    conn: Connection,
    factory: Callable[..., Any],
    args: tuple[Any, ...],
    parent_pid: int,
    parent_end: Connection | None,
) -> None:
    """The child: build the writer, apply every call received, close it when told.

    It dies with the parent, and closes its copy of the parent's end of the pipe,
    so a parent killed mid-run ends ``recv`` (EOF) instead of leaving it blocked.
    """
    die_with_parent(parent_pid, *([parent_end] if parent_end is not None else []))
    try:
        writer = factory(*args)
        try:
            while (batch := conn.recv()) is not None:
                for method, call_args in batch:
                    getattr(writer, method)(*call_args)
        finally:
            writer.close()
        conn.send(("ok", time.process_time()))
    except BaseException as exc:  # reported to the parent, which decides
        # A parent that died (EOF on the pipe) can hear nothing: just exit.
        with contextlib.suppress(OSError):
            conn.send(f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
