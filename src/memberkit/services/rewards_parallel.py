"""Reading the customers export with two processes, for two cores.

The export is split at a record boundary near its middle. This process handles
the first half as usual; a forked child handles the second half into part
files, appended to the outputs once the first half is done, so every file keeps
the export's row order. Before its half, the child reads the first half with
``CustomerRowProcessor.remember``: it knows every id and email claimed earlier
in the file, so repeated IDs and duplicate emails are judged exactly as in one
pass. Changed customers of the second half reach the Matrixify and reviews
writer through a spool file, replayed in order.

Not used with an ``on_changed`` sink: that callback runs in the caller's process.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from memberkit.errors import InputFileError, MemberkitError
from memberkit.files.csv_input import CsvSource
from memberkit.files.csv_output import CsvRowWriter
from memberkit.files.csv_split import open_csv_range, record_boundary
from memberkit.files.rejects import RejectsPart
from memberkit.services.rewards_outputs import RewardsFiles
from memberkit.services.rewards_report import RewardsCounts
from memberkit.services.rewards_rows import CustomerRowProcessor, RowOutputs

ProcessorFactory = Callable[[RowOutputs, RewardsCounts], CustomerRowProcessor]
_SPOOL_BATCH = 1_000


class _SpooledCodeLists:
    """The child's Matrixify/reviews rows, pickled to a file in batches for the parent."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("wb", buffering=1 << 20)
        self._batch: list[tuple[str, tuple[Any, ...]]] = []
        self.customers_rows = 0
        self.reviews_rows = 0

    def changed(self, shopify_id: str, email: str, available: str, used: str, expired: str) -> None:
        self._add("changed", (shopify_id, email, available, used, expired))

    def review(self, email: str, available_json: str) -> None:
        self._add("review", (email, available_json))

    def _add(self, method: str, args: tuple[Any, ...]) -> None:
        self._batch.append((method, args))
        if len(self._batch) >= _SPOOL_BATCH:
            pickle.dump(self._batch, self._fh, protocol=pickle.HIGHEST_PROTOCOL)
            self._batch = []

    def close(self) -> None:
        if self._batch:
            pickle.dump(self._batch, self._fh, protocol=pickle.HIGHEST_PROTOCOL)
            self._batch = []
        self._fh.close()


def replay_spool(path: Path) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """The calls a child spooled, in order."""
    with path.open("rb") as fh:
        while True:
            try:
                batch = pickle.load(fh)  # noqa: S301 - our own file, written by our child
            except EOFError:
                return
            yield from batch


@dataclass
class _PartOutputs:
    """The second half's outputs: part files in the output folder (hidden temporary names)."""

    code_lists: _SpooledCodeLists
    max_value: CsvRowWriter
    rejects: RejectsPart

    def close(self) -> None:
        self.code_lists.close()
        self.max_value.close()
        self.rejects.close()


@dataclass
class _Parts:
    spool: Path
    max_value: Path
    rejects: Path

    @classmethod
    def create(cls, directory: Path) -> _Parts:
        def temp(kind: str) -> Path:
            fd, name = tempfile.mkstemp(prefix=f".rewards-{kind}-", suffix=".tmp", dir=directory)
            os.close(fd)
            return Path(name)

        return cls(temp("spool"), temp("max-value"), temp("rejects"))

    def remove(self) -> None:
        for path in (self.spool, self.max_value, self.rejects):
            path.unlink(missing_ok=True)


# Half each. The child also reads the first part (to learn its ids and emails) and
# this process replays the child's rows into the writer; on the benchmark (shared
# machine) 0.5 and 0.55 measured the same within noise.
FIRST_PART_SHARE = 0.5


def split_point(source: CsvSource) -> int | None:
    """Where the child's part of the export starts, or None if it is too small to split."""
    return record_boundary(source.path, int(source.size * FIRST_PART_SHARE))


def can_fork() -> bool:
    """Whether the second reader can run here: it is forked (it shares our state)."""
    return sys.platform.startswith("linux")


@contextmanager
def second_half(
    source: CsvSource,
    boundary: int,
    make_processor: ProcessorFactory,
    output_dir: Path,
) -> Iterator[Callable[[RewardsFiles, CustomerRowProcessor], None]]:
    """Run the second half in a child; yield ``merge(files, processor)`` for after the first.

    ``merge`` waits for the child, appends its rows to ``files`` and adds its counts,
    matched codes and already-used codes to ``processor``'s. The child is stopped and
    its part files removed on the way out, whatever happens.
    """
    parts = _Parts.create(output_dir)
    context = multiprocessing.get_context("fork")
    conn, child_conn = context.Pipe(duplex=False)
    child = context.Process(
        target=_run_second_half,
        args=(child_conn, source, boundary, make_processor, parts),
        name="memberkit-second-half",
        daemon=True,
    )
    child.start()
    child_conn.close()

    def merge(files: RewardsFiles, processor: CustomerRowProcessor) -> None:
        try:
            reply = conn.recv()
        except EOFError:
            child.join(timeout=5)
            raise MemberkitError(
                f"the process reading the second half of the export stopped "
                f"(exit code {child.exitcode})"
            ) from None
        if reply[0] == "error":
            _, kind, message, hint = reply
            error_class = InputFileError if kind == "InputFileError" else MemberkitError
            raise error_class(message, hint=hint)
        _, counts, matched, already, rows = reply
        for call, args in replay_spool(parts.spool):
            getattr(files.code_lists, call)(*args)
        files.max_value.append_part(parts.max_value, rows["max_value"])
        files.rejects.append_part(parts.rejects, rows["rejects"])
        mine = processor.counts
        for field in dataclasses.fields(RewardsCounts):
            setattr(mine, field.name, getattr(mine, field.name) + getattr(counts, field.name))
        processor.matched_keys |= matched
        processor.already_used_keys |= already
        files.second_reader_cpu_seconds = rows["cpu_ms"] / 1000

    try:
        yield merge
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=10)
        conn.close()
        parts.remove()


def _run_second_half(
    conn: Connection,
    source: CsvSource,
    boundary: int,
    make_processor: ProcessorFactory,
    parts: _Parts,
) -> None:
    """The child: remember the first half, process the second into the part files."""
    try:
        outputs = _PartOutputs(
            _SpooledCodeLists(parts.spool),
            CsvRowWriter(parts.max_value, None),
            RejectsPart(parts.rejects, source.header),
        )
        counts = RewardsCounts()
        processor = make_processor(outputs, counts)
        first = open_csv_range(source, 0, boundary)
        with first:
            remember = processor.remember
            for _, cells in first.records():
                remember(cells)
        second = open_csv_range(source, boundary, source.size)
        with second:
            process = processor.process
            for number, cells in second.records():
                process(number, cells)
        outputs.close()
        rows = {"max_value": outputs.max_value.rows_written, "rejects": counts.rejected}
        rows["cpu_ms"] = int(time.process_time() * 1000)
        conn.send(("ok", counts, processor.matched_keys, processor.already_used_keys, rows))
    except MemberkitError as exc:
        conn.send(("error", type(exc).__name__, exc.message, exc.hint))
    except BaseException as exc:  # reported to the parent, which fails the run
        conn.send(("error", "MemberkitError", f"{type(exc).__name__}: {exc}", None))
    finally:
        conn.close()
