"""Fuzzing the readers: any bytes, any CSV shape, only the project's own errors.

Whatever a customers or usage export holds, reading it ends in one of two ways:
a ``MemberkitError`` (the file cannot be used, with a message) or rows, some of
them rejected with a reason. Never another exception, never a traceback.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memberkit.config import Settings, load_settings
from memberkit.errors import MemberkitError
from memberkit.files.csv_input import open_csv
from memberkit.files.usage_export import read_usage_export
from memberkit.services.ledger.customers_import import CustomersImportResult, read_member_records
from memberkit.services.rewards.update import run_rewards_update

HEADER = [
    "ID",
    "Email",
    "State",
    "Created At",
    "Metafield: alpkit.discountcodes_2021 [json]",
    "Metafield: alpkit.usedcodes_2021 [json]",
]
ZONE_SETTINGS = load_settings(None, environ={})

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from(["1e309", "-0", "1e3", "١٠", "12.345", "NaN", "-5.00", "10.00"]),
    st.text(max_size=8),
)
code_object = st.fixed_dictionaries(
    {"code": st.one_of(st.text(max_size=8), st.sampled_from(["=1+1", "\t@x", "A1"]))},
    optional={
        "value": json_scalar,
        "min_spend": json_scalar,
        "expires": st.one_of(json_scalar, st.sampled_from(["2026-11-20", "2026-02-30", "x"])),
    },
)
code_cell = st.one_of(
    st.just(""),
    st.lists(code_object, max_size=3).map(lambda c: json.dumps(c, ensure_ascii=False)),
    st.sampled_from(
        [
            "[{broken",
            "[" * 3000 + "]" * 3000,
            '[{"code":"A","value":' + "9" * 5000 + "}]",
            '[{"code":"A","value":1e309}]',
            '[{"code":"A\\ud800","value":"1.00"}]',
            "null",
            "{}",
            "[1]",
        ]
    ),
    st.text(max_size=20),
)
email_cell = st.one_of(
    st.emails().map(str),
    st.sampled_from(
        ["", "not-an-email", "a@b", "a\u200b@x.com", "x@x.com\r\nBcc: y@x.com", "a\0@x.com"]
    ),
    st.text(max_size=20),
)
id_cell = st.one_of(
    st.integers(min_value=0, max_value=10**25).map(str),
    st.sampled_from(["'1", "x", "", "٣", "1" * 5000]),
)
text_cell = st.text(max_size=15)


def row_strategy() -> st.SearchStrategy[list[str]]:
    return st.lists(
        st.one_of(id_cell, email_cell, text_cell, code_cell), min_size=0, max_size=8
    ) | st.tuples(id_cell, email_cell, text_cell, text_cell, code_cell, code_cell).map(list)


def _read_everything(root: Path, path: Path) -> None:
    """Every reader on ``path``: the opener, the usage and customers readers, the update."""
    for encoding in ("auto", "utf-8", "cp1252"):
        try:
            with open_csv(path, setting="input.customers_csv", encoding=encoding) as source:  # type: ignore[arg-type]
                for _ in source.records():
                    pass
        except MemberkitError:
            pass
    try:
        with open_csv(path, setting="input.discounts_csv", encoding="auto") as source:
            read_usage_export(source, ZONE_SETTINGS.processing.zone)
    except MemberkitError:
        pass
    with contextlib.suppress(MemberkitError):
        list(read_member_records(path, ZONE_SETTINGS, CustomersImportResult()))
    orders = root / "orders.csv"
    orders.write_text("Name,Created at,Discount Code\n#1,2026-11-18,A1\n", encoding="utf-8")
    # The customers export, then the same bytes given as the orders export.
    for customers, discounts in ((path, orders), (orders, path)):
        try:
            result = run_rewards_update(
                _update_settings(root, customers, discounts),
                today=dt.date(2026, 11, 20),
                background_writers=False,
            )
            assert result.counts.add_up()
        except MemberkitError:
            pass


def _update_settings(root: Path, customers: Path, discounts: Path) -> Settings:
    return load_settings(
        None,
        environ={},
        overrides={
            "input.customers_csv": str(customers),
            "input.discounts_csv": str(discounts),
            "output.directory": str(root / "output"),
            "output.archive_directory": str(root / "archive"),
            "log.directory": str(root / "logs"),
        },
    )


@FUZZ
@given(data=st.binary(max_size=400))
def test_any_bytes_give_rows_or_a_memberkit_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    root = tmp_path_factory.mktemp("bytes")
    path = root / "customers.csv"
    path.write_bytes(b",".join(h.encode() for h in HEADER) + b"\r\n" + data)
    _read_everything(root, path)
    bare = root / "bare.csv"
    bare.write_bytes(data)
    _read_everything(root, bare)


@FUZZ
@given(
    rows=st.lists(row_strategy(), max_size=6),
    delimiter=st.sampled_from([",", ";", "\t"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_NONE]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
    header=st.sampled_from(
        [HEADER, HEADER[:2], [*HEADER, "Email"], ["ID", "ID", "Email"], ["Discount Code"]]
    ),
)
def test_any_csv_shape_gives_rows_or_a_memberkit_error(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[list[str]],
    delimiter: str,
    quoting: int,
    encoding: str,
    header: list[str],
) -> None:
    root = tmp_path_factory.mktemp("shapes")
    buffer = io.StringIO()
    if quoting == csv.QUOTE_NONE:
        # Cells joined raw: stray quotes, delimiters and line breaks break the shape.
        buffer.write(delimiter.join(header) + "\r\n")
        for row in rows:
            buffer.write(delimiter.join(row) + "\r\n")
    else:
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    path = root / "customers.csv"
    path.write_bytes(buffer.getvalue().encode(encoding, errors="replace"))
    _read_everything(root, path)
