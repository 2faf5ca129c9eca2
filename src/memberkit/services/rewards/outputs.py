"""The files one rewards update writes, from temporary names to published outputs.

All outputs are staged (temporary names in the output folder) while the run
streams; ``publish`` archives the earlier outputs and renames the new ones into
place only once every file is complete; ``discard`` removes the temporary files
of a failed run, leaving earlier outputs untouched. On big inputs the Matrixify
XLSX and the reviews CSV (with the code lists' JSON) are written by a second
process (``files.background``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from memberkit.config import Settings
from memberkit.domain.rewards import CODE_REUSE_COLUMNS
from memberkit.files.archive import archive_earlier_outputs
from memberkit.files.background import BackgroundWriter
from memberkit.files.code_lists_output import CodeListsWriter
from memberkit.files.csv_output import CsvOutput, CsvRowWriter
from memberkit.files.rejects import REJECTS_PATTERN, USAGE_REJECTS_PATTERN, RejectsFile
from memberkit.files.staging import StagedFile
from memberkit.services.rewards.report import RewardsOutputs
from memberkit.services.rewards.spool import SpoolWriter

SHEET_NAME = "Customers"
CODE_REUSE_PATTERN = "code_reuse_%s.csv"
# Below this size a second process costs more to start than it saves.
BACKGROUND_MIN_BYTES = 20_000_000


def matrixify_header(settings: Settings, customers_header: Sequence[str] = ()) -> list[str]:
    """The Matrixify import columns, metafield names from the config, with their type.

    Each metafield column carries the type the export's header gave it
    (``Metafield: alpkit.discountcodes_2021 [json]``), else ``codes.metafield_type``:
    Matrixify takes a column without a type from the store's metafield
    definition, and customer metafields often have none.
    """
    codes = settings.codes
    columns = ["ID", "email", "Command"]
    for key in (codes.available_key, codes.used_key, codes.expired_key):
        name = f"Metafield: {codes.namespace}.{key}"
        kind = exported_type(customers_header, codes.namespace, key)
        if kind is None:
            kind = codes.metafield_type.strip().strip("[]").strip()
        columns.append(f"{name} [{kind}]" if kind else name)
    return columns


def exported_type(header: Sequence[str], namespace: str, key: str) -> str | None:
    """The ``[type]`` of the export's ``Metafield: namespace.key`` column (None: no type)."""
    pattern = re.compile(
        rf"\s*metafield:\s*{re.escape(namespace)}\.{re.escape(key)}\s*\[\s*([^\]]+?)\s*\]\s*",
        re.IGNORECASE,
    )
    for column in header:
        match = pattern.fullmatch(column)
        if match:
            return match.group(1)
    return None


def reviews_header(settings: Settings) -> list[str]:
    return ["Email", f"Metafield: {settings.codes.namespace}.{settings.codes.available_key}"]


class CodeListsSink(Protocol):
    """Where changed customers and members' code lists go (here or in the writer process)."""

    customers_rows: int
    reviews_rows: int

    def changed(
        self, shopify_id: str, email: str, available: str, used: str, expired: str
    ) -> None: ...

    def review(self, email: str, available_json: str) -> None: ...


class _CountingCodeLists:
    """Counts rows on this side and forwards them to a writer here or in the child."""

    def __init__(self, local: CodeListsWriter | None, remote: BackgroundWriter | None) -> None:
        self._local, self._remote = local, remote
        self.customers_rows = 0
        self.reviews_rows = 0
        self.scratch: list[Path] = []  # spool files handed to the writer
        self.mirror: SpoolWriter | None = None  # the database mirror's spool, when it is on

    def changed(self, shopify_id: str, email: str, available: str, used: str, expired: str) -> None:
        self.customers_rows += 1
        if self.mirror is not None:
            self.mirror.write(shopify_id, email, available, used, expired)
        if email and available != "[]":
            self.reviews_rows += 1
        if self._remote is not None:
            self._remote.call("changed", shopify_id, email, available, used, expired)
        elif self._local is not None:
            self._local.changed(shopify_id, email, available, used, expired)

    def review(self, email: str, available_json: str) -> None:
        self.reviews_rows += 1
        if self._remote is not None:
            self._remote.call("review", email, available_json)
        elif self._local is not None:
            self._local.review(email, available_json)

    def replay(self, spool: Path, reviews: Path, customers_rows: int, reviews_rows: int) -> None:
        """What a ``CodeListsSpool`` wrote to ``spool`` and ``reviews`` (and counted), next.

        The writer reads the files itself; they are removed when the files are
        finished or discarded.
        """
        self.customers_rows += customers_rows
        self.reviews_rows += reviews_rows
        self.scratch += [spool, reviews]
        if self._remote is not None:
            self._remote.call("replay", spool, reviews, reviews_rows)
        elif self._local is not None:
            self._local.replay(spool, reviews, reviews_rows)


@dataclass
class RewardsFiles:
    """The staged outputs of one run and their writers."""

    code_lists: _CountingCodeLists
    max_value: CsvRowWriter
    rejects: RejectsFile
    usage_rejects: RejectsFile
    _staged: dict[str, StagedFile]
    _local: CodeListsWriter | None
    _background: BackgroundWriter | None
    code_reuse: CsvOutput | None = None  # only when a code was used twice
    writer_cpu_seconds: float | None = None  # the writer process's CPU time, when there was one
    second_reader_cpu_seconds: float | None = None  # the second reader's, when there was one

    @classmethod
    def open(
        cls,
        settings: Settings,
        run_date: dt.date,
        *,
        customers_header: Sequence[str],
        usage_header: Sequence[str],
        background: bool,
    ) -> RewardsFiles:
        out = settings.output

        def dated(pattern: str) -> Path:
            return out.directory / pattern.replace("%s", run_date.isoformat())

        staged: dict[str, StagedFile] = {}
        local: CodeListsWriter | None = None
        remote: BackgroundWriter | None = None
        try:
            for name, pattern in (
                ("customers", out.filename_pattern),
                ("max_value", out.csv_filename_pattern),
                ("reviews", out.reviews_filename_pattern),
            ):
                staged[name] = StagedFile(dated(pattern))
            code_list_args = (
                staged["customers"].temp,
                matrixify_header(settings, customers_header),
                SHEET_NAME,
                staged["reviews"].temp,
                reviews_header(settings),
            )
            # Fork the writer before this process opens files of its own.
            if background:
                remote = BackgroundWriter(CodeListsWriter, *code_list_args)
            else:
                local = CodeListsWriter(*code_list_args)
            max_value = CsvRowWriter(
                staged["max_value"].temp, settings.klaviyo_properties.property_map.columns
            )
        except BaseException:
            if remote is not None:
                remote.abort()
            if local is not None:
                local.close()
            for file in staged.values():
                file.discard()
            raise
        return cls(
            code_lists=_CountingCodeLists(local, remote),
            max_value=max_value,
            rejects=RejectsFile(dated(REJECTS_PATTERN), customers_header),
            usage_rejects=RejectsFile(dated(USAGE_REJECTS_PATTERN), usage_header),
            _staged=staged,
            _local=local,
            _background=remote,
        )

    def write_code_reuse(self, target: Path, rows: Sequence[Sequence[str]]) -> None:
        """Stage ``code_reuse_YYYY-MM-DD.csv`` (formula-safe) when there are ``rows``."""
        if not rows:
            return
        self.code_reuse = CsvOutput(target, CODE_REUSE_COLUMNS)
        for cells in rows:
            self.code_reuse.write(cells)
        self.code_reuse.close()

    def finish(self) -> None:
        """Complete every file (still under temporary names)."""
        if self._background is not None:
            self._background.close()
            self.writer_cpu_seconds = self._background.cpu_seconds
        if self._local is not None:
            self._local.close()
        self.max_value.close()
        self.rejects.close()
        self.usage_rejects.close()
        self._remove_scratch()

    def _remove_scratch(self) -> None:
        for path in self.code_lists.scratch:
            path.unlink(missing_ok=True)

    def publish(
        self, settings: Settings, patterns: Sequence[str], now: dt.datetime
    ) -> RewardsOutputs:
        """Archive earlier outputs, then rename the new files into place."""
        archived = archive_earlier_outputs(
            settings.output.directory, settings.output.archive_directory, patterns, now
        )
        return RewardsOutputs(
            customers_xlsx=self._staged["customers"].commit(),
            max_value_csv=self._staged["max_value"].commit(),
            reviews_csv=self._staged["reviews"].commit(),
            rejects_csv=self.rejects.commit(),
            usage_rejects_csv=self.usage_rejects.commit(),
            code_reuse_csv=self.code_reuse.commit() if self.code_reuse is not None else None,
            archived=archived,
        )

    def discard(self) -> None:
        """Remove every temporary file (after a failure); earlier outputs stay."""
        if self._background is not None:
            self._background.abort()
        for writer in (self._local, self.max_value):
            if writer is not None:
                with contextlib.suppress(Exception):  # its temporary file is removed next
                    writer.close()
        for file in self._staged.values():
            file.discard()
        self.rejects.discard()
        self.usage_rejects.discard()
        if self.code_reuse is not None:
            self.code_reuse.discard()
        self._remove_scratch()
