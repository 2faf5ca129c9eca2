"""The two outputs that carry code lists as compact JSON: the Matrixify XLSX and the reviews CSV.

Serialising code lists is a large share of a run's work, so it happens here, in
the writer, which may run in a second process (``files.background``): the rules
hand over the lists, the writer turns them into text. Rows keep the order they
are given in, so the reviews file follows the customers export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memberkit.domain.codes import dump_compact
from memberkit.files.csv_output import CsvRowWriter
from memberkit.files.xlsx_output import XlsxSheetWriter

CodeList = list[dict[str, Any]]


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

    def changed(
        self, shopify_id: str, email: str, available: CodeList, used: CodeList, expired: CodeList
    ) -> None:
        """A changed customer: a Matrixify ``UPDATE`` row, and a reviews row if they have codes."""
        available_json = dump_compact(available)
        self.customers.write(
            [shopify_id, email, "UPDATE", available_json, dump_compact(used), dump_compact(expired)]
        )
        if email and available:
            self.reviews.write([email, available_json])

    def review(self, email: str, available_json: str) -> None:
        """An unchanged member with codes: their metafield as it already is in Shopify."""
        self.reviews.write([email, available_json])

    def close(self) -> None:
        try:
            self.customers.close()
        finally:
            self.reviews.close()
