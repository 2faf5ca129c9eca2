"""The two outputs that carry code lists as compact JSON: the Matrixify XLSX and the reviews CSV.

Building XLSX XML, compressing it and quoting JSON for CSV is a large share of a
run's work, so this writer may run in a second process (``files.background``);
it receives text (cheap to pass between processes), never code objects. Rows
keep the order they are given in, so the reviews file follows the export.

A second reader process spools its rows to a file (``CodeListsSpool``); the
writer replays that file itself (``CodeListsWriter.replay``), so the rows do not
pass through the first reader on their way.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from memberkit.files.csv_output import CsvRowWriter
from memberkit.files.xlsx_output import XlsxSheetWriter


class CodeListsWriter:
    """Changed customers into the Matrixify import; members with codes into the reviews file."""

    def __init__(
        self,
        customers_path: Path,
        customers_header: list[str],
        sheet_name: str,
        reviews_path: Path,
        reviews_header: list[str],
    ) -> None:
        self.customers = XlsxSheetWriter(customers_path, sheet_name, customers_header)
        try:
            self.reviews = CsvRowWriter(reviews_path, reviews_header)
        except BaseException:
            self.customers.close()
            raise

    def changed(self, shopify_id: str, email: str, available: str, used: str, expired: str) -> None:
        """A changed customer (code lists as compact JSON): a Matrixify ``UPDATE`` row,
        and a reviews row if they have an email and codes left."""
        self.customers.write([shopify_id, email, "UPDATE", available, used, expired])
        if email and available != "[]":
            self.reviews.write([email, available])

    def review(self, email: str, available_json: str) -> None:
        """An unchanged member with codes: their metafield as it already is in Shopify."""
        self.reviews.write([email, available_json])

    def replay(self, spool: Path) -> None:
        """The rows a ``CodeListsSpool`` wrote to ``spool``, in their order."""
        for method, args in replay_spool(spool):
            getattr(self, method)(*args)

    def close(self) -> None:
        try:
            self.customers.close()
        finally:
            self.reviews.close()


_SPOOL_BATCH = 1_000


class CodeListsSpool:
    """``CodeListsWriter``'s calls, pickled to a file in batches, for ``CodeListsWriter.replay``.

    Counts rows as the writer will write them (``customers_rows``, ``reviews_rows``).
    """

    def __init__(self, path: Path) -> None:
        self._fh = path.open("wb", buffering=1 << 20)
        self._batch: list[tuple[str, tuple[Any, ...]]] = []
        self.customers_rows = 0
        self.reviews_rows = 0

    def changed(self, shopify_id: str, email: str, available: str, used: str, expired: str) -> None:
        self.customers_rows += 1
        if email and available != "[]":
            self.reviews_rows += 1
        self._add("changed", (shopify_id, email, available, used, expired))

    def review(self, email: str, available_json: str) -> None:
        self.reviews_rows += 1
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
    """The calls a ``CodeListsSpool`` wrote, in order."""
    with path.open("rb") as fh:
        while True:
            try:
                batch = pickle.load(fh)  # noqa: S301 - our own file, written by our child
            except EOFError:
                return
            yield from batch
