"""The two outputs that carry code lists as compact JSON: the Matrixify XLSX and the reviews CSV.

Building XLSX XML, compressing it and quoting JSON for CSV is a large share of a
run's work, so this writer may run in a second process (``files.background``);
it receives text (cheap to pass between processes), never code objects. Rows
keep the order they are given in, so the reviews file follows the export.
"""

from __future__ import annotations

from pathlib import Path

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

    def close(self) -> None:
        try:
            self.customers.close()
        finally:
            self.reviews.close()
