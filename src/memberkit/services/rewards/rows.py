"""One customer row of the export, through the rules and into the outputs.

``CustomerRowRules`` are the row rules of every command that reads a customers
export (``rewards update`` and ``customers import``), so both accept and reject
the same rows for the same reasons:

- the ID is a Shopify customer id; a repeated ID is a Matrixify address row of
  the customer above (skipped, not rejected);
- a row has no non-blank cells beyond the header's width;
- the email, when there is one, is an email address (``domain.emails``), not
  formula-like, and not the email of an earlier customer of the file;
- each code metafield present is a JSON array of code objects, no code in it
  formula-like or holding a control character (a NUL, a terminal escape), and
  the available codes have valid values, minimum spends and expiry dates
  (``domain.codes``);
- no cell is longer than an Excel cell.

A member-since (``Created At``) cell that is not a date does not reject its row
(its codes still need their update); it is counted in
``member_since_unreadable`` and the log warns, and the value is left blank.

``CustomerRowProcessor.process`` is called once per record of the customers
export and ends each row in exactly one way: processed, skipped as a repeated-ID
(address) row, or rejected with a reason naming the column. It holds only what
must outlive a row: the ids and emails seen, and which usage codes matched.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from memberkit.domain.codes import (
    CodeListError,
    CodeParser,
    CompactJson,
    RewardCode,
    code_key,
)
from memberkit.domain.customers import CustomerIdError, customer_id
from memberkit.domain.dates import DateParseError, created_date
from memberkit.domain.echo import echo
from memberkit.domain.emails import email_problem
from memberkit.domain.max_value import DEFAULT_PROPERTIES, PropertyMap, changed_properties
from memberkit.domain.profile_index import ProfileIndex
from memberkit.domain.rewards import (
    CodeOwner,
    CodeUse,
    max_value_cells,
    max_value_row,
    update_wallet,
)
from memberkit.files.customers_export import CustomersLayout
from memberkit.files.formula import EXCEL_CELL_LIMIT, SUSPECT_FIRST, is_formula_like
from memberkit.services.rewards.outputs import CodeListsSink
from memberkit.services.rewards.report import RewardsCounts


@dataclass(frozen=True, slots=True)
class ChangedCustomer:
    """A customer whose codes changed, as written to the Matrixify import."""

    shopify_id: str
    email: str  # trimmed, as in the export; "" when the customer has none
    available: list[dict[str, Any]]  # sorted best first
    used: list[dict[str, Any]]
    expired: list[dict[str, Any]]


ChangedCustomerSink = Callable[[ChangedCustomer], None]

# First characters worth the full formula test: the formula prefixes and whitespace.
_SUSPECT_FIRST = SUSPECT_FIRST


class RowSink(Protocol):
    """A file rows are written to."""

    rows_written: int

    def write(self, cells: Sequence[str]) -> None: ...


class RejectSink(Protocol):
    """Where rejected rows go, with their reason."""

    def write(self, cells: Sequence[str], reason: str) -> None: ...


class RowOutputs(Protocol):
    """The outputs a processed row is written to (``RewardsFiles``, or a second process's parts)."""

    @property
    def code_lists(self) -> CodeListsSink: ...

    @property
    def max_value(self) -> RowSink: ...

    @property
    def rejects(self) -> RejectSink: ...


class RowRejected(Exception):
    """Internal: this row is rejected for ``reason`` (``failed``: its update cannot be written)."""

    def __init__(self, reason: str, *, failed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.failed = failed


class CustomerRowRules:
    """The row rules shared by every reader of a customers export (see the module docstring).

    Holds what a judgement needs from earlier rows: the ids seen and each
    email's first owner. Raise ``RowRejected`` with the reason in the user's
    words, naming the column.
    """

    def __init__(self, *, layout: CustomersLayout, parser: CodeParser) -> None:
        self.layout = layout
        self.parser = parser
        self.seen_ids: set[int] = set()
        self.email_owner: dict[str, int] = {}
        columns = [layout.id, layout.email, layout.available, layout.used, layout.expired]
        columns += [layout.account_state, layout.member_since]
        self.width = max(c for c in columns if c is not None) + 1
        self.header_width = len(layout.header)
        self._since_cache: dict[str, str] = {}

    def padded(self, cells: list[str]) -> list[str]:
        """``cells`` with blanks up to every column the rules read."""
        return cells if len(cells) >= self.width else cells + [""] * (self.width - len(cells))

    def admit(self, row: list[str], cells: list[str]) -> tuple[str, str, str] | None:
        """What depends on earlier rows: the id (None: a repeated ID) and the email's owner.

        Returns ``(shopify_id, email, lower-cased email)``; raises ``RowRejected``.
        """
        layout = self.layout
        try:
            shopify_id = customer_id(row[layout.id])
        except CustomerIdError as exc:
            raise RowRejected(f"{layout.name(layout.id)}: {exc}") from None
        numeric_id = int(shopify_id)
        if numeric_id in self.seen_ids:
            return None
        self.seen_ids.add(numeric_id)
        if len(cells) > self.header_width and any(c.strip() for c in cells[self.header_width :]):
            raise RowRejected(
                f"row has {len(cells)} cells but the header has {self.header_width} "
                "(a delimiter inside an unquoted cell?)"
            )
        email = row[layout.email].strip()
        email_lower = email.lower()
        if email:
            if len(email) > EXCEL_CELL_LIMIT or email[0] in _SUSPECT_FIRST:
                self._check_cell(layout.email, email)
            problem = email_problem(email)
            if problem is not None:
                raise RowRejected(
                    f"{layout.name(layout.email)}: {echo(email)} is not an email address "
                    f"({problem}); correct it in Shopify"
                )
            owner = self.email_owner.get(email_lower)
            if owner is not None:
                raise RowRejected(
                    f"{layout.name(layout.email)}: {email} is also the email of customer ID "
                    f"{owner} (an earlier row, kept); one email cannot belong to two customers"
                )
            self.email_owner[email_lower] = numeric_id
        return shopify_id, email, email_lower

    def available_codes(self, objects: list[dict[str, Any]]) -> list[RewardCode]:
        """The typed available codes of the available-codes column's objects."""
        try:
            return self.parser.available_codes(objects)
        except CodeListError as exc:
            raise RowRejected(f"{self.layout.name(self.layout.available)}: {exc}") from None

    def member_since(self, text: str) -> str | None:
        """The member-since date as ``YYYY-MM-DD``, ``""`` if blank, None if unreadable."""
        head = text[:10]
        since = self._since_cache.get(head)
        if since is None:
            try:
                since = created_date(text)
            except DateParseError:
                return None
            if len(head) == 10 and len(self._since_cache) < 100_000:
                self._since_cache[head] = since
        return since

    def code_objects(self, column: int | None, cell: str) -> list[dict[str, Any]]:
        """The code objects of a metafield cell (``[]`` for a blank cell or absent column)."""
        if not cell or column is None:
            return []
        if len(cell) > EXCEL_CELL_LIMIT:
            self._check_cell(column, cell)
        try:
            objects = self.parser.code_objects(cell)
        except CodeListError as exc:
            raise RowRejected(f"{self.layout.name(column)}: {exc}") from None
        for raw in objects:
            text = raw.get("code")
            # Cheap first tests (a clean code is printable, led by neither a formula
            # character nor a space); the rules themselves are in _check_code.
            if (
                text.__class__ is str
                and text
                and (text[0] in _SUSPECT_FIRST or not text.isprintable())
            ):
                self._check_code(column, text)
        return objects

    def _check_code(self, column: int, text: str) -> None:
        if is_formula_like(text):
            raise RowRejected(
                f"{self.layout.name(column)}: code {echo(text)} starts with "
                f"{text.strip()[0]!r}, which a spreadsheet would run as a formula; "
                "rename the code in Shopify"
            )
        for char in text:
            if unicodedata.category(char) == "Cc":
                raise RowRejected(
                    f"{self.layout.name(column)}: code {echo(text)} contains a control "
                    f"character (U+{ord(char):04X}); rename the code in Shopify"
                )

    def _check_cell(self, column: int, text: str) -> None:
        name = self.layout.name(column)
        if len(text) > EXCEL_CELL_LIMIT:
            raise RowRejected(
                f"{name}: {len(text):,} characters, more than an Excel cell's "
                f"{EXCEL_CELL_LIMIT:,}; shorten it in Shopify"
            )
        if column == self.layout.email and is_formula_like(text):
            raise RowRejected(
                f"{name}: {echo(text)} starts with {text.strip()[0]!r}, which a spreadsheet "
                "would run as a formula; correct the email in Shopify"
            )


class CustomerRowProcessor(CustomerRowRules):
    """Applies the rules to each customer row and writes the results."""

    def __init__(
        self,
        *,
        layout: CustomersLayout,
        uses: Mapping[str, CodeUse],
        today: dt.date,
        parser: CodeParser,
        outputs: RowOutputs,
        counts: RewardsCounts,
        profile_index: ProfileIndex | None = None,
        on_changed: ChangedCustomerSink | None = None,
        properties: PropertyMap = DEFAULT_PROPERTIES,
    ) -> None:
        super().__init__(layout=layout, parser=parser)
        # The max-value properties sent, and their names ([klaviyo_properties]).
        self.properties = properties
        self._pick = None if properties.sends_everything_as_default else properties.pick
        self.uses = uses
        self.today = today
        self.outputs = outputs
        self.counts = counts
        self.profiles = profile_index.profiles if profile_index is not None else None
        self.on_changed = on_changed
        self.matched_keys: set[str] = set()
        self.already_used_keys: set[str] = set()
        # Who holds each usage code (used before, or consumed now): the code reuse file.
        self.code_owners: dict[str, CodeOwner] = {}
        self.today_text = today.isoformat()
        self._dump = CompactJson().dumps  # this processor's own: not shared between threads

    def process(self, number: int, cells: list[str]) -> None:
        """Handle one record (``number`` is its row in the file, the header being row 1)."""
        self.counts.customers_read += 1
        row = cells if len(cells) >= self.width else cells + [""] * (self.width - len(cells))
        try:
            admitted = self.admit(row, cells)
            if admitted is None:
                self.counts.skipped_repeated_id += 1
                return
            self._process(row, *admitted)
        except RowRejected as rejected:
            self._reject(number, cells, rejected)

    def _reject(self, number: int, cells: list[str], rejected: RowRejected) -> None:
        self.counts.rejected += 1
        if rejected.failed:
            self.counts.failed += 1
        self.outputs.rejects.write(cells, rejected.reason)

    def _process(self, row: list[str], shopify_id: str, email: str, email_lower: str) -> None:
        layout = self.layout
        available_cell = row[layout.available] if layout.available is not None else ""
        used_cell = row[layout.used] if layout.used is not None else ""
        expired_cell = row[layout.expired] if layout.expired is not None else ""
        available_objects = self.code_objects(layout.available, available_cell)
        used_objects = self.code_objects(layout.used, used_cell)
        expired_objects = self.code_objects(layout.expired, expired_cell)
        available = self.available_codes(available_objects)
        if self.uses and used_objects:
            for raw in used_objects:
                text = raw.get("code")
                if not isinstance(text, str):
                    continue
                key = code_key(text)
                if key in self.uses:
                    self.already_used_keys.add(key)
                    if key not in self.code_owners:
                        order, used_on = raw.get("order"), raw.get("used_at")
                        self.code_owners[key] = CodeOwner(
                            shopify_id,
                            email,
                            text,
                            already_used=True,
                            used_order=order if isinstance(order, str) else None,
                            used_on=used_on if isinstance(used_on, str) else None,
                        )

        update = update_wallet(available, self.uses, self.today) if available else None
        remaining: list[RewardCode] = update.available if update else []
        if update is not None and update.changed:
            available_out = [code.raw for code in remaining]
            used_out = used_objects + update.newly_used
            expired_out = expired_objects + update.newly_expired
            dump = self._dump
            try:
                texts = (dump(available_out), dump(used_out), dump(expired_out))
            except (RecursionError, ValueError):
                raise RowRejected(
                    "a code metafield is nested too deeply to be written back; "
                    "correct it in Shopify",
                    failed=True,
                ) from None
            self._check_lengths(texts)
            self.outputs.code_lists.changed(shopify_id, email, *texts)
            self.counts.changed += 1
            self.counts.codes_moved_to_used += len(update.newly_used)
            self.counts.codes_moved_to_expired += len(update.newly_expired)
            self.matched_keys.update(update.used_keys)
            for key, moved in zip(update.used_keys, update.newly_used, strict=True):
                self.code_owners[key] = CodeOwner(
                    shopify_id, email, str(moved["code"]), already_used=False
                )
            if self.on_changed is not None:
                self.on_changed(
                    ChangedCustomer(shopify_id, email, available_out, used_out, expired_out)
                )
        elif remaining and email:
            # Unchanged: the metafield stays exactly as it is in Shopify.
            self.outputs.code_lists.review(email, available_cell.strip())

        self.counts.processed += 1
        since = ""
        if layout.member_since is not None:
            read = self.member_since(row[layout.member_since])
            if read is None:
                self.counts.member_since_unreadable += 1
            else:
                since = read
        if not email:
            self.counts.without_email += 1
            return
        self._write_max_value(row, email, email_lower, remaining, since)

    def _check_lengths(self, texts: tuple[str, str, str]) -> None:
        layout = self.layout
        columns = (layout.available, layout.used, layout.expired)
        for column, text in zip(columns, texts, strict=True):
            if len(text) > EXCEL_CELL_LIMIT:
                name = layout.name(column) if column is not None else "code metafield"
                raise RowRejected(
                    f"{name}: after the update it would hold {len(text):,} characters, "
                    f"more than an Excel cell's {EXCEL_CELL_LIMIT:,}; update it by hand",
                    failed=True,
                )

    def _write_max_value(
        self,
        row: list[str],
        email: str,
        email_lower: str,
        remaining: list[RewardCode],
        since: str,
    ) -> None:
        layout = self.layout
        state = row[layout.account_state].strip() if layout.account_state is not None else ""
        if self.profiles is None:
            cells = max_value_cells(email, remaining, account_state=state, member_since=since)
            self.outputs.max_value.write(cells if self._pick is None else self._pick(cells))
            return
        profile = self.profiles.get(email_lower)
        if profile is None:
            self.counts.max_value_skipped_not_in_klaviyo += 1
            return
        max_value = max_value_row(email, remaining, account_state=state, member_since=since)
        if not changed_properties(max_value, profile["properties"], self.properties):
            self.counts.max_value_skipped_unchanged += 1
            return
        self.outputs.max_value.write(max_value.csv_cells(self.properties))

    def unmatched_usage(self) -> tuple[int, int]:
        """Usage codes that matched no available code: (already used, not a member code)."""
        unmatched = self.uses.keys() - self.matched_keys
        already = len(unmatched & self.already_used_keys)
        return already, len(unmatched) - already
