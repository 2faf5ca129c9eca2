"""The two outputs that carry code lists as compact JSON: the Matrixify XLSX and the reviews CSV.

Building XLSX XML, compressing it and quoting JSON for CSV is a large share of a
run's work, so this writer may run in a second process (``files.background``);
it receives text (cheap to pass between processes), never code objects. Rows
keep the order they are given in, so the reviews file follows the export.

A second reader process spools its Matrixify rows to a file and writes its
reviews rows to a CSV part (``CodeListsSpool``); the writer appends both itself
(``CodeListsWriter.replay``), so the rows do not pass through the first reader.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

from memberkit.files.csv_output import CsvRowWriter
from memberkit.files.xlsx_output import XlsxSheetWriter, column_letters, row_template


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
        self.customers.write((shopify_id, email, "UPDATE", available, used, expired))
        if email and available != "[]":
            self.reviews.write([email, available])

    def review(self, email: str, available_json: str) -> None:
        """An unchanged member with codes: their metafield as it already is in Shopify."""
        self.reviews.write([email, available_json])

    def replay(self, spool: Path, reviews: Path, reviews_rows: int) -> None:
        """Append what a ``CodeListsSpool`` wrote: Matrixify rows, then the reviews part."""
        write = self.customers.write_template
        for template in replay_spool(spool):
            write(template)
        self.reviews.append_part(reviews, reviews_rows)

    def close(self) -> None:
        try:
            self.customers.close()
        finally:
            self.reviews.close()


_SPOOL_BATCH = 1_000
#: ID, email, Command, and the three code metafields (``CodeListsWriter.changed``).
MATRIXIFY_COLUMNS = 6


class CodeListsSpool:
    """A second reader's code-list rows, for ``CodeListsWriter.replay`` to append in order.

    Matrixify rows are rendered here, as XLSX row templates (their row numbers
    are known only when they are appended), and pickled to ``spool`` in batches;
    reviews rows are written straight to the headerless CSV part ``reviews``.
    So the writer has little left to do for them. Counts rows as the writer will
    write them (``customers_rows``, ``reviews_rows``).
    """

    def __init__(self, spool: Path, reviews: Path) -> None:
        self._fh = spool.open("wb", buffering=1 << 20)
        try:
            self._reviews = CsvRowWriter(reviews, None)
        except BaseException:
            self._fh.close()
            raise
        self._batch: list[str] = []
        self._letters = column_letters(MATRIXIFY_COLUMNS)
        self.customers_rows = 0
        self.reviews_rows = 0

    def changed(self, shopify_id: str, email: str, available: str, used: str, expired: str) -> None:
        self.customers_rows += 1
        cells = (shopify_id, email, "UPDATE", available, used, expired)
        self._batch.append(row_template(cells, self._letters))
        if len(self._batch) >= _SPOOL_BATCH:
            pickle.dump(self._batch, self._fh, protocol=pickle.HIGHEST_PROTOCOL)
            self._batch = []
        if email and available != "[]":
            self.review(email, available)

    def review(self, email: str, available_json: str) -> None:
        self.reviews_rows += 1
        self._reviews.write([email, available_json])

    def close(self) -> None:
        try:
            if self._batch:
                pickle.dump(self._batch, self._fh, protocol=pickle.HIGHEST_PROTOCOL)
                self._batch = []
        finally:
            self._fh.close()
            self._reviews.close()


def replay_spool(path: Path) -> Iterator[str]:
    """The Matrixify rows (XLSX row templates) a ``CodeListsSpool`` wrote, in order."""
    with path.open("rb") as fh:
        while True:
            try:
                batch = pickle.load(fh)  # noqa: S301 - our own file, written by our child
            except EOFError:
                return
            yield from batch
