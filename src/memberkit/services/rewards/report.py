"""What a rewards update did: its counts, its files, and its one-line summary.

The counts add up by construction: every customer row read is processed,
skipped as a repeated-ID (address) row, or rejected::

    customers_read == processed + skipped_repeated_id + rejected
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from memberkit.errors import EXIT_OK, EXIT_PARTIAL


@dataclass
class RewardsCounts:
    """Counters for one run (see the module docstring for how they add up)."""

    customers_read: int = 0
    processed: int = 0
    skipped_repeated_id: int = 0
    rejected: int = 0  # source rows that cannot be processed (a warning: exit 0)
    failed: int = 0  # rows whose update could not be written (part of rejected: exit 3)
    changed: int = 0
    without_email: int = 0
    member_since_unreadable: int = 0  # processed, the member-since cell left blank (a warning)
    codes_moved_to_used: int = 0
    codes_moved_to_expired: int = 0
    usage_rows: int = 0
    usage_rows_with_codes: int = 0
    usage_rejected: int = 0
    usage_codes: int = 0  # distinct codes in the usage export
    usage_codes_matched: int = 0
    unmatched_already_used: int = 0
    unmatched_not_member_code: int = 0
    customers_rows_written: int = 0
    max_value_rows_written: int = 0
    reviews_rows_written: int = 0
    max_value_skipped_unchanged: int = 0
    max_value_skipped_not_in_klaviyo: int = 0
    profiles_loaded: int = 0
    code_reuse: int = 0  # member codes used twice, listed in code_reuse_YYYY-MM-DD.csv

    def add_up(self) -> bool:
        """Whether every row read is accounted for exactly once."""
        return self.customers_read == self.processed + self.skipped_repeated_id + self.rejected


@dataclass
class RewardsOutputs:
    """Where this run's files were written (rejects files only when there were rejects)."""

    customers_xlsx: Path
    max_value_csv: Path
    reviews_csv: Path
    rejects_csv: Path | None = None
    usage_rejects_csv: Path | None = None
    code_reuse_csv: Path | None = None
    archived: list[Path] = field(default_factory=list)
    copies: list[Path] = field(default_factory=list)

    def written(self) -> list[Path]:
        files = [self.customers_xlsx, self.max_value_csv, self.reviews_csv]
        optional = (self.rejects_csv, self.usage_rejects_csv, self.code_reuse_csv)
        return files + [p for p in optional if p is not None]


@dataclass
class RewardsUpdateResult:
    """The outcome of ``run_rewards_update``: run date, files, counts and timings."""

    run_date: dt.date
    outputs: RewardsOutputs
    counts: RewardsCounts
    profiles_source: str  # "off", "cache file <path>", or "given by the caller"
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 done (source rejects are warnings); 3 when some rows' updates failed."""
        return EXIT_PARTIAL if self.counts.failed else EXIT_OK

    def summary_line(
        self, *, status: str | None = None, extra: Sequence[tuple[str, Any]] = ()
    ) -> str:
        """The structured ``key=value`` summary written to ``process.log``.

        ``status`` (first) and ``extra`` (after the counts) are the whole run's,
        from ``run_daily_update``.
        """
        c = self.counts
        parts: list[tuple[str, Any]] = [
            *([("status", status)] if status is not None else []),
            ("run_date", self.run_date.isoformat()),
            *asdict(c).items(),
            ("profiles_from", self.profiles_source),
            *extra,
            *((f"{name}_s", f"{seconds:.2f}") for name, seconds in self.timings.items()),
        ]
        return "rewards update summary: " + " ".join(f"{k}={quote_value(v)}" for k, v in parts)


def quote_value(value: object) -> str:
    """A summary value: quoted when it holds a space (inner quotes escaped), one line."""
    text = " ".join(str(value).split()) if any(c in str(value) for c in "\r\n") else str(value)
    if " " in text or '"' in text:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text
