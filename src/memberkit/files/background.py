"""Writing some outputs in a second process, so a 2-core machine uses both cores.

Turning a row into XLSX XML, compressing it, and quoting JSON for CSV costs as
much as the rules themselves; a child process can do it while the parent reads
the next customers. The parent batches rows and sends them through a pipe (a
full pipe makes the parent wait, so memory stays bounded); the child writes
the files it was given (temporary names: the parent still stages and commits).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Literal

from memberkit.errors import MemberkitError
from memberkit.files.csv_output import CsvRowWriter
from memberkit.files.xlsx_output import XlsxSheetWriter

_BATCH_ROWS = 2_000


@dataclass(frozen=True)
class WriterSpec:
    """A file for the child to write: XLSX (one sheet) or CSV, with its header."""

    kind: Literal["xlsx", "csv"]
    path: Path
    header: tuple[str, ...]
    sheet_name: str = "Sheet1"


class BackgroundWriterError(MemberkitError):
    """The background writer process failed; the message says why."""


class BackgroundWriters:
    """A child process writing several files; ``channel(i)`` is the writer of ``specs[i]``."""

    def __init__(self, specs: Sequence[WriterSpec]) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe(duplex=True)
        self._process = context.Process(
            target=_serve, args=(child_conn, list(specs)), name="memberkit-writer", daemon=True
        )
        self._process.start()
        child_conn.close()
        self._pending: list[tuple[int, Sequence[str]]] = []
        self._closed = False
        self.channels = [BackgroundChannel(self, index) for index in range(len(specs))]

    def channel(self, index: int) -> BackgroundChannel:
        return self.channels[index]

    def send(self, index: int, cells: Sequence[str]) -> None:
        self._pending.append((index, cells))
        if len(self._pending) >= _BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            try:
                self._conn.send(self._pending)
            except (BrokenPipeError, ConnectionResetError, EOFError):
                raise BackgroundWriterError(self._failure()) from None
            self._pending = []

    def close(self) -> None:
        """Send the last rows, wait for the child to finish its files; raise if it failed."""
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
        if reply != "ok":
            raise BackgroundWriterError(f"writing the output files failed: {reply}")

    def abort(self) -> None:
        """Stop the child without finishing its files (the caller discards them)."""
        self._closed = True
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(timeout=10)
        self._conn.close()

    def _failure(self) -> str:
        self._process.join(timeout=5)
        return (
            f"the output writer process stopped unexpectedly (exit code {self._process.exitcode})"
        )


class BackgroundChannel:
    """The parent's handle on one file the child writes."""

    def __init__(self, owner: BackgroundWriters, index: int) -> None:
        self._owner = owner
        self._index = index
        self.rows_written = 0

    def write(self, cells: Sequence[str]) -> None:
        self._owner.send(self._index, cells)
        self.rows_written += 1


def _serve(conn: Connection, specs: list[WriterSpec]) -> None:
    """The child: write every row received to its file until told to finish."""
    writers: list[XlsxSheetWriter | CsvRowWriter] = []
    try:
        for spec in specs:
            if spec.kind == "xlsx":
                writers.append(XlsxSheetWriter(spec.path, spec.sheet_name, spec.header))
            else:
                writers.append(CsvRowWriter(spec.path, spec.header))
        while True:
            batch = conn.recv()
            if batch is None:
                break
            for index, cells in batch:
                writers[index].write(cells)
        for writer in writers:
            writer.close()
        conn.send("ok")
    except BaseException as exc:  # report anything to the parent, which decides
        conn.send(f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
