"""Reading the customers export with two processes, for two cores.

The export is split at a record boundary near its middle (not between a
customer's rows). This process handles the first half as usual; a forked child
handles the second half into part files, appended to the outputs once the first
half is done, so every file keeps the export's row order.

Only a repeated ID or a duplicate email depends on earlier rows. The child judges
them from its own half, and reports every ID and email it looked up; if the first
half claimed none of them, each of its rows was judged exactly as in one pass
and its parts are used. Otherwise (an email or ID in both halves: rare) its
parts are dropped and this process reads the second half too, after the first,
as one pass would. The second half's Matrixify rows reach the writer through a
spool file and its reviews rows through a CSV part, which the writer appends
itself, in order.

The changed members for the database mirror go to a spool file of the child's
own, handed to the caller's ``ChangedMembersSpool`` when its parts are used.
Not used with an ``on_changed`` sink: that callback runs in the caller's process.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from memberkit.domain.customers import CustomerIdError, customer_id
from memberkit.errors import InputFileError, MemberkitError
from memberkit.files.code_lists_output import CodeListsSpool
from memberkit.files.csv_input import CsvSource
from memberkit.files.csv_output import CsvRowWriter
from memberkit.files.csv_split import open_csv_range, record_boundary, records_from
from memberkit.files.rejects import RejectsPart
from memberkit.processes import die_with_parent
from memberkit.services.rewards.outputs import RewardsFiles
from memberkit.services.rewards.report import RewardsCounts
from memberkit.services.rewards.rows import CustomerRowProcessor, RowOutputs
from memberkit.services.rewards.spool import ChangedMembersSpool, SpoolWriter

ProcessorFactory = Callable[[RowOutputs, RewardsCounts], CustomerRowProcessor]


class _MirroredCodeLists(CodeListsSpool):
    """The child's Matrixify rows, also written to its mirror spool."""

    def __init__(self, spool: Path, reviews: Path, mirror: SpoolWriter) -> None:
        super().__init__(spool, reviews)
        self.mirror = mirror

    def changed(self, shopify_id: str, email: str, available: str, used: str, expired: str) -> None:
        self.mirror.write(shopify_id, email, available, used, expired)
        super().changed(shopify_id, email, available, used, expired)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.mirror.close()


@dataclass
class _PartOutputs:
    """The second half's outputs: part files in the output folder (hidden temporary names)."""

    code_lists: CodeListsSpool
    max_value: CsvRowWriter
    rejects: RejectsPart

    def close(self) -> None:
        self.code_lists.close()
        self.max_value.close()
        self.rejects.close()


@dataclass
class _Parts:
    spool: Path
    reviews: Path
    max_value: Path
    rejects: Path
    mirror: Path | None = None  # the changed members, when the database mirror is on
    handed_over: bool = False  # spool and reviews: to the files' writer, which removes them

    @classmethod
    def create(cls, directory: Path) -> _Parts:
        def temp(kind: str) -> Path:
            fd, name = tempfile.mkstemp(prefix=f".rewards-{kind}-", suffix=".tmp", dir=directory)
            os.close(fd)
            return Path(name)

        return cls(temp("spool"), temp("reviews"), temp("max-value"), temp("rejects"))

    def remove(self) -> None:
        for path in (self.max_value, self.rejects):
            path.unlink(missing_ok=True)
        if not self.handed_over:
            if self.mirror is not None:
                self.mirror.unlink(missing_ok=True)
            self.spool.unlink(missing_ok=True)
            self.reviews.unlink(missing_ok=True)


# Half each: on the benchmark (shared machine) 0.5 and 0.55 measured the same within noise.
FIRST_PART_SHARE = 0.5
# How far past the middle the split may move to keep a customer's rows together.
_GROUP_SEARCH_RECORDS = 1_000


def split_point(source: CsvSource, id_column: int) -> int | None:
    """Where the child's part of the export starts, or None if it is too small to split.

    A record boundary near the middle, moved forward past rows that repeat the ID
    of the row before them (Matrixify's address rows), so a customer's rows are
    not split between the two readers (which would make the child's half be
    judged again, see ``second_half``).
    """
    boundary = record_boundary(source.path, int(source.size * FIRST_PART_SHARE))
    if boundary is None:
        return None
    previous: str | None = None
    for count, (start, cells) in enumerate(
        records_from(source.path, boundary, source.encoding, source.delimiter)
    ):
        if count >= _GROUP_SEARCH_RECORDS:
            break
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue  # a blank line: not a record
        shopify_id = _id_of(cells, id_column)
        if count > 0 and (shopify_id is None or shopify_id != previous):
            return start
        previous = shopify_id
    return boundary


def _id_of(cells: list[str], column: int) -> str | None:
    try:
        return customer_id(cells[column]) if column < len(cells) else None
    except CustomerIdError:
        return None


def can_fork() -> bool:
    """Whether the second reader can run here: it is forked (it shares our state)."""
    return sys.platform.startswith("linux")


@contextmanager
def second_half(
    source: CsvSource,
    boundary: int,
    make_processor: ProcessorFactory,
    output_dir: Path,
    mirror: ChangedMembersSpool | None = None,
) -> Iterator[Callable[[RewardsFiles, CustomerRowProcessor], bool]]:
    """Run the second half in a child; yield ``merge(files, processor)`` for after the first.

    The child judges repeated IDs and duplicate emails from its own half only, and
    reports every ID and email it looked up. ``merge`` waits for the child; when
    none of those is claimed by the first half (``processor``'s), the child's
    decisions are exactly those of one pass, and ``merge`` appends its rows to
    ``files``, adds its counts, matched codes and already-used codes to
    ``processor``'s and returns True. Otherwise it returns False and uses nothing
    of the child's: the caller must read the second half itself, with
    ``processor``. The child is stopped and its part files removed on the way
    out, whatever happens. With ``mirror``, the child spools its changed members
    to a part file of its own, added to ``mirror`` when its rows are used.
    """
    parts = _Parts.create(output_dir)
    if mirror is not None:
        parts.mirror = mirror.new_part()
    context = multiprocessing.get_context("fork")
    conn, child_conn = context.Pipe(duplex=False)
    child = context.Process(
        target=_run_second_half,
        args=(child_conn, source, boundary, make_processor, parts, os.getpid(), conn),
        name="memberkit-second-half",
        daemon=True,
    )
    child.start()
    child_conn.close()

    def merge(files: RewardsFiles, processor: CustomerRowProcessor) -> bool:
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
        _, counts, matched, already, owners, rows, ids, emails = reply
        files.second_reader_cpu_seconds = rows["cpu_ms"] / 1000
        if not (
            processor.seen_ids.isdisjoint(ids) and processor.email_owner.keys().isdisjoint(emails)
        ):
            return False
        parts.handed_over = True
        files.code_lists.replay(parts.spool, parts.reviews, rows["customers"], rows["reviews"])
        files.max_value.append_part(parts.max_value, rows["max_value"])
        files.rejects.append_part(parts.rejects, rows["rejects"])
        if mirror is not None and parts.mirror is not None:
            mirror.add_part(parts.mirror, rows["mirrored"])
        mine = processor.counts
        for field in dataclasses.fields(RewardsCounts):
            setattr(mine, field.name, getattr(mine, field.name) + getattr(counts, field.name))
        processor.matched_keys |= matched
        processor.already_used_keys |= already
        mine_owners = processor.code_owners
        for key, owner in owners.items():
            known = mine_owners.get(key)
            # As one pass would: a code consumed wins over a code found used before.
            if known is None or (known.already_used and not owner.already_used):
                mine_owners[key] = owner
        return True

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
    parent_pid: int,
    parent_end: Connection,
) -> None:
    """The child: process the second half into the part files.

    It dies with the parent (a killed run leaves no reader behind), and closes
    its copy of the parent's end of the pipe so a send to a dead parent fails.
    """
    die_with_parent(parent_pid, parent_end)
    try:
        outputs = _PartOutputs(
            CodeListsSpool(parts.spool, parts.reviews)
            if parts.mirror is None
            else _MirroredCodeLists(parts.spool, parts.reviews, SpoolWriter(parts.mirror)),
            CsvRowWriter(parts.max_value, None),
            RejectsPart(parts.rejects, source.header),
        )
        counts = RewardsCounts()
        processor = make_processor(outputs, counts)
        second = open_csv_range(source, boundary, source.size)
        with second:
            process = processor.process
            for number, cells in second.records():
                process(number, cells)
        outputs.close()
        rows = {
            "max_value": outputs.max_value.rows_written,
            "rejects": counts.rejected,
            "customers": outputs.code_lists.customers_rows,
            "reviews": outputs.code_lists.reviews_rows,
            "cpu_ms": int(time.process_time() * 1000),
            "mirrored": (
                outputs.code_lists.mirror.count
                if isinstance(outputs.code_lists, _MirroredCodeLists)
                else 0
            ),
        }
        # Every ID and email this half looked up (claimed, or found claimed in this half).
        ids, emails = processor.seen_ids, list(processor.email_owner)
        conn.send(
            (
                "ok",
                counts,
                processor.matched_keys,
                processor.already_used_keys,
                processor.code_owners,
                rows,
                ids,
                emails,
            )
        )
    except MemberkitError as exc:
        conn.send(("error", type(exc).__name__, exc.message, exc.hint))
    except BaseException as exc:  # reported to the parent, which fails the run
        conn.send(("error", "MemberkitError", f"{type(exc).__name__}: {exc}", None))
    finally:
        conn.close()
