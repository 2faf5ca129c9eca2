"""The files one rewards update writes, from temporary names to published outputs.

All outputs are staged (temporary names in the output folder) while the run
streams; ``publish`` archives the earlier outputs and renames the new ones into
place only once every file is complete; ``discard`` removes the temporary files
of a failed run, leaving earlier outputs untouched. On big inputs the Matrixify
XLSX and the reviews CSV are written by a second process (``files.background``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from memberkit.config import Settings
from memberkit.domain.max_value import CSV_COLUMNS
from memberkit.files.archive import archive_earlier_outputs
from memberkit.files.background import BackgroundWriters, WriterSpec
from memberkit.files.csv_output import CsvRowWriter
from memberkit.files.rejects import REJECTS_PATTERN, USAGE_REJECTS_PATTERN, RejectsFile
from memberkit.files.staging import StagedFile
from memberkit.files.xlsx_output import XlsxSheetWriter
from memberkit.services.rewards_report import RewardsOutputs

SHEET_NAME = "Customers"
# Below this size a second process costs more to start than it saves.
BACKGROUND_MIN_BYTES = 20_000_000


class RowWriter(Protocol):
    """Anything rows can be written to, counting them."""

    rows_written: int

    def write(self, cells: Sequence[str]) -> None: ...


def matrixify_header(settings: Settings) -> list[str]:
    """The Matrixify import columns, metafield names from the config."""
    codes = settings.codes
    prefix = f"Metafield: {codes.namespace}."
    return ["ID", "email", "Command"] + [
        prefix + key for key in (codes.available_key, codes.used_key, codes.expired_key)
    ]


def reviews_header(settings: Settings) -> list[str]:
    return ["Email", f"Metafield: {settings.codes.namespace}.{settings.codes.available_key}"]


@dataclass
class RewardsFiles:
    """The staged outputs of one run and their writers."""

    customers: RowWriter
    max_value: RowWriter
    reviews: RowWriter
    rejects: RejectsFile
    usage_rejects: RejectsFile
    _staged: dict[str, StagedFile]
    _local: list[XlsxSheetWriter | CsvRowWriter]
    _background: BackgroundWriters | None

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
        local: list[XlsxSheetWriter | CsvRowWriter] = []
        try:
            for name, pattern in (
                ("customers", out.filename_pattern),
                ("max_value", out.csv_filename_pattern),
                ("reviews", out.reviews_filename_pattern),
            ):
                staged[name] = StagedFile(dated(pattern))
            max_value = CsvRowWriter(staged["max_value"].temp, CSV_COLUMNS)
            local.append(max_value)
            customers: RowWriter
            reviews: RowWriter
            writers: BackgroundWriters | None = None
            if background:
                writers = BackgroundWriters(
                    [
                        WriterSpec(
                            "xlsx",
                            staged["customers"].temp,
                            tuple(matrixify_header(settings)),
                            SHEET_NAME,
                        ),
                        WriterSpec("csv", staged["reviews"].temp, tuple(reviews_header(settings))),
                    ]
                )
                customers, reviews = writers.channel(0), writers.channel(1)
            else:
                xlsx = XlsxSheetWriter(
                    staged["customers"].temp, SHEET_NAME, matrixify_header(settings)
                )
                local.append(xlsx)
                csv_reviews = CsvRowWriter(staged["reviews"].temp, reviews_header(settings))
                local.append(csv_reviews)
                customers, reviews = xlsx, csv_reviews
        except BaseException:
            for writer in local:
                writer.close()
            for file in staged.values():
                file.discard()
            raise
        return cls(
            customers=customers,
            max_value=max_value,
            reviews=reviews,
            rejects=RejectsFile(dated(REJECTS_PATTERN), customers_header),
            usage_rejects=RejectsFile(dated(USAGE_REJECTS_PATTERN), usage_header),
            _staged=staged,
            _local=local,
            _background=writers,
        )

    def finish(self) -> None:
        """Complete every file (still under temporary names)."""
        if self._background is not None:
            self._background.close()
        for writer in self._local:
            writer.close()
        self.rejects.close()
        self.usage_rejects.close()

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
            archived=archived,
        )

    def discard(self) -> None:
        """Remove every temporary file (after a failure); earlier outputs stay."""
        if self._background is not None:
            self._background.abort()
        for writer in self._local:
            with contextlib.suppress(Exception):  # its temporary file is removed next anyway
                writer.close()
        for file in self._staged.values():
            file.discard()
        self.rejects.discard()
        self.usage_rejects.discard()
