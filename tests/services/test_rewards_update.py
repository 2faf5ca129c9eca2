"""The rewards update service: counts, outputs, Klaviyo comparison, sinks, safety."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from memberkit.cli.errors import exit_code_for
from memberkit.config import Settings, load_settings
from memberkit.errors import ConfigError, LockedError, MemberkitError
from memberkit.files.profile_cache import ProfileCacheError, ProfileIndex, write_profile_index
from memberkit.services.rewards.lock import rewards_lock
from memberkit.services.rewards.update import ChangedCustomer, run_rewards_update

TODAY = dt.date(2026, 11, 20)
HEADER = [
    "ID",
    "Email",
    "State",
    "Created At",
    "Metafield: alpkit.discountcodes_2021 [json]",
    "Metafield: alpkit.usedcodes_2021 [json]",
    "Metafield: alpkit.expiredcodes_2021 [json]",
]


def codes(*specs: tuple[str, str] | tuple[str, str, str]) -> str:
    out: list[dict[str, Any]] = []
    for spec in specs:
        item: dict[str, Any] = {"code": spec[0], "value": spec[1], "min_spend": "0.00"}
        if len(spec) == 3:
            item["expires"] = spec[2]
        out.append(item)
    return json.dumps(out, separators=(",", ":"))


def customer(
    id: str, email: str, available: str = "", used: str = "", expired: str = ""
) -> list[str]:
    return [id, email, "enabled", "2021-03-04 10:00:00 +0000", available, used, expired]


class Store:
    """A folder with a config, a customers export and an orders export."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.output = root / "output"
        (root / "memberkit.toml").write_text(
            '[input]\ncustomers_csv = "customers.csv"\ndiscounts_csv = "orders.csv"\n',
            encoding="utf-8",
        )
        self.orders([])

    def customers(self, rows: list[list[str]], header: list[str] = HEADER) -> None:
        with (self.root / "customers.csv").open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows([header, *rows])

    def orders(self, rows: list[tuple[str, str, str]]) -> None:
        with (self.root / "orders.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["Name", "Created at", "Discount Code"])
            writer.writerows(rows)

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(self.root / "memberkit.toml", overrides=overrides)

    def run(self, **kwargs: Any):  # type: ignore[no-untyped-def]
        overrides = kwargs.pop("overrides", {})
        return run_rewards_update(self.settings(**overrides), today=TODAY, **kwargs)

    def csv_rows(self, name: str) -> list[list[str]]:
        with (self.output / name).open(encoding="utf-8", newline="") as fh:
            return list(csv.reader(fh))

    def xlsx_rows(self, name: str = "customers_2026-11-20.xlsx") -> list[tuple[Any, ...]]:
        workbook = openpyxl.load_workbook(self.output / name, read_only=True)
        rows = [tuple(r) for r in workbook["Customers"].iter_rows(values_only=True)]
        workbook.close()
        return rows


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path)


def test_every_row_is_processed_skipped_or_rejected_and_the_counts_add_up(store: Store) -> None:
    store.customers(
        [
            customer("'1", "ann@example.com", codes(("A1", "10.00"))),
            ["'1", "", "", "", "", "", ""],  # Matrixify address row
            customer("2", "bob@example.com", "[{broken"),
            ["2", "", "", "", "", "", ""],  # address row of a rejected customer
            customer("3", " ANN@example.com ", codes(("C1", "5.00"))),
            customer("4", "", codes(("D1", "5.00", "2026-01-01"))),
            customer("x", "eve@example.com"),
        ]
    )
    result = store.run()
    c = result.counts
    assert (c.customers_read, c.processed, c.skipped_repeated_id, c.rejected) == (7, 2, 2, 3)
    assert c.add_up()
    assert c.without_email == 1 and c.changed == 1 and c.codes_moved_to_expired == 1
    assert result.exit_code == 0
    reasons = [row[-1] for row in store.csv_rows("rejects_2026-11-20.csv")[1:]]
    assert reasons[0].startswith("Metafield: alpkit.discountcodes_2021 [json]: malformed JSON")
    assert reasons[1].startswith("Email: ANN@example.com is also the email of customer ID 1")
    assert reasons[2] == "ID: 'x' is not a Shopify customer id (digits only)"


def test_customers_without_email_are_only_in_the_matrixify_file(store: Store) -> None:
    store.customers([customer("4", "", codes(("D1", "5.00", "2026-01-01"), ("D2", "1.00")))])
    result = store.run()
    assert store.xlsx_rows()[1][:3] == ("4", None, "UPDATE")
    assert result.counts.max_value_rows_written == result.counts.reviews_rows_written == 0


def test_the_sink_receives_each_changed_customer_with_its_three_lists(store: Store) -> None:
    store.customers(
        [
            customer("1", "Ann@Example.com", codes(("A1", "10.00"), ("A2", "20.00"))),
            customer("2", "bob@example.com", codes(("B1", "20.00"), ("B2", "10.00"))),
        ]
    )
    store.orders([("#1001", "2026-11-18 09:14:02 -0500", "a1")])
    seen: list[ChangedCustomer] = []
    store.run(on_changed=seen.append)
    assert seen == [
        ChangedCustomer(
            shopify_id="1",
            email="Ann@Example.com",
            available=[{"code": "A2", "value": "20.00", "min_spend": "0.00"}],
            used=[
                {
                    "code": "A1",
                    "value": "10.00",
                    "min_spend": "0.00",
                    "used_at": "2026-11-18",
                    "order": "#1001",
                }
            ],
            expired=[],
        )
    ]


def test_unmatched_usage_codes_are_counted_as_already_used_or_not_member_codes(
    store: Store,
) -> None:
    store.customers([customer("1", "a@b.c", codes(("A1", "1.00")), used=codes(("OLD", "1.00")))])
    store.orders(
        [
            ("#1", "2026-11-18", "A1, old"),
            ("#2", "2026-11-18", "WELCOME10"),
            ("#3", "2026-11-18", "welcome10"),
            ("#4", "someday", "X"),
        ]
    )
    c = store.run().counts
    assert (c.usage_codes, c.usage_codes_matched) == (3, 1)
    assert (c.unmatched_already_used, c.unmatched_not_member_code) == (1, 1)
    assert c.usage_rejected == 1
    [_, rejected] = store.csv_rows("rejects_usage_2026-11-20.csv")
    assert rejected == [
        "#4",
        "someday",
        "X",
        "Created at: 'someday' is not a date and time (expected e.g. 2026-11-18 09:14:02 -0500)",
    ]


def test_formula_like_codes_and_emails_are_rejected_and_import_files_untouched(
    store: Store,
) -> None:
    store.customers(
        [
            customer("1", "=1+1@x.com", codes(("A1", "1.00"))),
            customer("2", "b@x.com", codes(("@SUM(A1)", "1.00"))),
            customer("3", "c@x.com", used=codes(("-OLD", "1.00"))),
        ]
    )
    result = store.run()
    assert result.counts.rejected == 3
    rejects = store.csv_rows("rejects_2026-11-20.csv")
    assert rejects[1][1] == "'=1+1@x.com"  # people-facing: neutralised
    assert "code '@SUM(A1)' starts with '@'" in rejects[2][-1]
    assert rejects[3][-1].startswith("Metafield: alpkit.usedcodes_2021 [json]: code '-OLD'")
    assert store.csv_rows("max_value_2026-11-20.csv") == [
        store.csv_rows("max_value_2026-11-20.csv")[0]
    ]


def test_a_cell_over_excels_limit_is_rejected(store: Store) -> None:
    long_list = codes(*[(f"OLD-{i:05d}", "1.00") for i in range(1200)])
    assert len(long_list) > 32_767
    store.customers([customer("1", "a@b.c", codes(("A", "1.00")), used=long_list)])
    result = store.run()
    assert result.counts.rejected == 1 and result.exit_code == 0
    reason = store.csv_rows("rejects_2026-11-20.csv")[1][-1]
    assert reason.startswith("Metafield: alpkit.usedcodes_2021 [json]: ")
    assert "more than an Excel cell's 32,767" in reason


def test_an_update_that_would_overflow_a_cell_fails_that_row_with_exit_3(store: Store) -> None:
    used = codes(*[(f"OLD-{i:05d}", "1.00") for i in range(594)])
    assert 32_600 < len(used) <= 32_767
    store.customers([customer("1", "a@b.c", codes(("A" * 100, "1.00")), used=used)])
    store.orders([("#1", "2026-11-18", "A" * 100)])
    result = store.run()
    assert (result.counts.rejected, result.counts.failed, result.exit_code) == (1, 1, 3)
    assert "after the update it would hold" in store.csv_rows("rejects_2026-11-20.csv")[1][-1]
    assert len(store.xlsx_rows()) == 1  # header only: the customer is left unchanged


def profile_index(profiles: dict[str, dict[str, Any]]) -> ProfileIndex:
    return ProfileIndex(
        mode="segment",
        segment_id="XVnnDX",
        fetched_at=dt.datetime(2026, 11, 20, 6, tzinfo=dt.UTC),
        profiles={e: {"id": f"P-{e}", "properties": p} for e, p in profiles.items()},
    )


SAME_AS_KLAVIYO = {
    "has_dividends": "true",
    "discount_code": "A1",
    "discount_value": 10,
    "min_spend": "0.0",
    "multiple_codes": False,
    "number_of_codes": 1,
    "balance": "10.00",
    "account_state": "enabled",
    "MBR_date_created": "2021-03-04",
}


def test_with_klaviyo_only_profiles_that_differ_are_written(store: Store) -> None:
    store.customers(
        [
            customer("1", "same@x.com", codes(("A1", "10.00"))),
            customer("2", "Differs@x.com", codes(("A1", "10.00"))),
            customer("3", "absent@x.com", codes(("A1", "10.00"))),
        ]
    )
    index = profile_index(
        {"same@x.com": SAME_AS_KLAVIYO, "differs@x.com": {**SAME_AS_KLAVIYO, "balance": "9.99"}}
    )
    result = store.run(
        profile_index=index, overrides={"klaviyo.enabled": True, "klaviyo.segment_id": "XVnnDX"}
    )
    assert [r[0] for r in store.csv_rows("max_value_2026-11-20.csv")[1:]] == ["Differs@x.com"]
    c = result.counts
    assert (c.max_value_skipped_unchanged, c.max_value_skipped_not_in_klaviyo) == (1, 1)
    assert result.profiles_source == "given by the caller" and c.profiles_loaded == 2


def test_with_klaviyo_the_index_is_read_from_the_cache_file(store: Store) -> None:
    store.customers([customer("1", "same@x.com", codes(("A1", "10.00")))])
    write_profile_index(
        store.root / "cache" / "klaviyo_segment_XVnnDX.json",
        profile_index({"same@x.com": SAME_AS_KLAVIYO}),
    )
    result = store.run(overrides={"klaviyo.enabled": True, "klaviyo.segment_id": "XVnnDX"})
    assert result.counts.max_value_skipped_unchanged == 1
    assert result.profiles_source.startswith("cache file ")


def test_with_klaviyo_and_no_cache_file_the_run_fails_naming_the_file(store: Store) -> None:
    store.customers([customer("1", "a@x.com")])
    with pytest.raises(ProfileCacheError, match=r"klaviyo_all\.json not found") as info:
        store.run(overrides={"klaviyo.enabled": True, "klaviyo.fetch_mode": "all"})
    assert exit_code_for(info.value) == 1
    assert not store.output.exists() or not any(store.output.iterdir())


def test_segment_mode_without_a_segment_id_is_a_configuration_error(store: Store) -> None:
    store.customers([customer("1", "a@x.com")])
    with pytest.raises(ConfigError, match=r"klaviyo\.segment_id"):
        store.run(overrides={"klaviyo.enabled": True})


def test_a_rerun_archives_the_earlier_same_named_files_and_overwrites_nothing(
    store: Store,
) -> None:
    store.customers([customer("1", "a@x.com", codes(("A1", "1.00")))])
    first = store.run()
    store.customers([customer("1", "a@x.com", codes(("A1", "2.00")))])
    second = store.run()
    assert second.outputs.max_value_csv == first.outputs.max_value_csv
    assert store.csv_rows("max_value_2026-11-20.csv")[1][3] == "2.00"
    archive = store.output / "archive"
    assert sorted(p.name for p in archive.iterdir()) == [
        "customers_2026-11-20.xlsx",
        "for_reviews_2026-11-20.csv",
        "max_value_2026-11-20.csv",
    ]
    assert "1.00" in (archive / "max_value_2026-11-20.csv").read_text()
    third = store.run()
    assert len(list(archive.iterdir())) == 6  # the second run's files, with -HHMMSS
    assert len(third.outputs.archived) == 3


def test_a_failed_run_leaves_earlier_outputs_and_no_temporary_files(store: Store) -> None:
    store.customers([customer("1", "a@x.com", codes(("A1", "1.00"), ("A2", "2.00")))])
    store.run()
    before = {p.name: p.read_bytes() for p in store.output.iterdir() if p.is_file()}

    def explode(_: ChangedCustomer) -> None:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        store.run(on_changed=explode)
    after = {p.name: p.read_bytes() for p in store.output.iterdir() if p.is_file()}
    assert after == before
    assert not (store.output / "archive").exists()


def test_a_second_run_is_refused_while_one_holds_the_lock(store: Store) -> None:
    store.customers([customer("1", "a@x.com")])
    with (
        rewards_lock(store.settings()),
        pytest.raises(LockedError, match="already running"),
    ):
        store.run()
    assert not store.output.exists()


def test_the_background_writer_gives_the_same_files(store: Store, tmp_path: Path) -> None:
    rows = [
        customer(str(i), f"m{i}@x.com", codes((f"C{i}", "1.00"), (f"D{i}", "9.00", "2027-01-01")))
        for i in range(1, 300)
    ]
    store.customers(rows)
    store.run(background_writers=False)
    local = {
        p.name: store.xlsx_rows() if p.suffix == ".xlsx" else p.read_bytes()
        for p in store.output.glob("*_2026-11-20.*")
    }
    store.run(background_writers=True)
    background = {
        p.name: store.xlsx_rows() if p.suffix == ".xlsx" else p.read_bytes()
        for p in store.output.glob("*_2026-11-20.*")
    }
    assert background == local
    assert len(store.xlsx_rows()) == 300


def test_copies_go_to_the_copy_to_paths(store: Store) -> None:
    store.customers([customer("1", "a@x.com", codes(("A1", "1.00")))])
    shared = store.root / "shared"
    shared.mkdir()
    result = store.run(
        overrides={
            "output.customers_copy_to": str(shared),
            "output.max_value_copy_to": str(store.root / "klaviyo.csv"),
        }
    )
    assert (shared / "customers_2026-11-20.xlsx").exists()
    assert (store.root / "klaviyo.csv").read_bytes() == result.outputs.max_value_csv.read_bytes()


def test_a_copy_that_fails_is_an_error_after_the_outputs_are_complete(store: Store) -> None:
    store.customers([customer("1", "a@x.com", codes(("A1", "1.00")))])
    blocker = store.root / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(MemberkitError, match=r"output\.reviews_copy_to"):
        store.run(overrides={"output.reviews_copy_to": str(blocker / "reviews.csv")})
    assert (store.output / "for_reviews_2026-11-20.csv").exists()


def test_the_summary_line_is_logged(store: Store) -> None:
    from memberkit.runlog import configure_logging

    store.customers([customer("1", "a@x.com", codes(("A1", "1.00")))])
    configure_logging(store.root / "logs", "INFO")
    store.run()
    log = (store.root / "logs" / "process.log").read_text()
    assert "rewards update summary: run_date=2026-11-20 customers_read=1 processed=1" in log


def test_a_cache_file_of_another_segment_is_not_used(store: Store) -> None:
    store.customers([customer("1", "a@x.com")])
    index = profile_index({})
    index.segment_id = "OTHER"
    write_profile_index(store.root / "cache" / "klaviyo_segment_XVnnDX.json", index)
    with pytest.raises(ProfileCacheError, match="not the configured 'segment' 'XVnnDX'"):
        store.run(overrides={"klaviyo.enabled": True, "klaviyo.segment_id": "XVnnDX"})


def test_a_row_with_more_cells_than_the_header_is_rejected(store: Store) -> None:
    store.customers([[*customer("1", "a@x.com"), "stray, cell"], [*customer("2", "b@x.com"), ""]])
    result = store.run()
    assert (result.counts.rejected, result.counts.processed) == (1, 1)
    reason = store.csv_rows("rejects_2026-11-20.csv")[1][-1]
    assert reason == "row has 8 cells but the header has 7 (a delimiter inside an unquoted cell?)"


def test_a_shopify_customer_export_in_windows_1252_with_semicolons(store: Store) -> None:
    header = [
        "Customer ID",
        "First Name",
        "Email",
        "Codes (customer.metafields.alpkit.discountcodes_2021)",
    ]
    text = ";".join(header) + "\r\n" + '42;Zoë;zoe@x.com;"[{""code"":""Z£1"",""value"":""5""}]"\r\n'
    (store.root / "customers.csv").write_bytes(text.encode("cp1252"))
    result = store.run()
    assert result.counts.processed == 1
    assert store.csv_rows("max_value_2026-11-20.csv")[1][:4] == ["zoe@x.com", "true", "Z£1", "5.00"]


def test_a_caller_holding_the_lock_can_run_without_taking_it(store: Store) -> None:
    store.customers([customer("1", "a@x.com")])
    with rewards_lock(store.settings()):
        assert store.run(hold_lock=False).counts.processed == 1


def test_progress_is_reported_up_to_the_file_size(store: Store) -> None:
    store.customers([customer(str(i), f"m{i}@x.com") for i in range(1, 50)])
    calls: list[tuple[int, int]] = []
    store.run(progress=lambda done, total: calls.append((done, total)))
    size = (store.root / "customers.csv").stat().st_size
    assert calls[-1] == (size, size)


def _outputs(store: Store) -> dict[str, object]:
    return {
        p.name: store.xlsx_rows() if p.suffix == ".xlsx" else p.read_bytes()
        for p in sorted(store.output.glob("*_2026-11-20.*"))
    }


@pytest.mark.parametrize(
    ("seed", "across"),
    [(1, True), (2, True), (3, True), (4, False), (5, False)],
)
def test_two_reader_processes_give_exactly_the_files_and_counts_of_one(
    store: Store, seed: int, across: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """``across``: emails and IDs repeated anywhere (so in both halves), or only nearby
    (the child's half is then used as it is, never read again)."""
    import logging
    import random

    rnd = random.Random(seed)
    rows: list[list[str]] = []
    for i in range(1, 400):
        email = f"m{i}@x.com" if rnd.random() > 0.05 else ""
        if rnd.random() < 0.05 and i > 5:  # an email of a customer earlier
            email = f"M{rnd.randrange(1, i) if across else i - 1}@x.com"
        wallet = [
            (f"C{i}-{j}", f"{rnd.randint(1, 30)}.00", f"2026-{rnd.randint(10, 12):02d}-15")
            for j in range(rnd.randint(0, 3))
        ]
        available = codes(*wallet) if wallet else ""
        if rnd.random() < 0.03:
            available = "[{broken"
        row = customer(str(i), email, available)
        row[2] = 'enabled\nsince "2021"' if rnd.random() < 0.1 else row[2]  # multi-line cell
        rows.append(row)
        for _ in range(rnd.choice([0, 0, 0, 1, 2])):  # address rows
            rows.append([str(i), "", "", "", "", "", ""])
        if rnd.random() < 0.02:  # an ID repeated after its first row
            rows.append(customer(str(rnd.randrange(1, i + 1) if across else i), f"late{i}@x.com"))
    store.customers(rows)
    store.orders([("#1", "2026-11-18", f"C{i}-0") for i in range(1, 400, 7)])
    one = store.run(background_writers=False, two_readers=False)
    expected = _outputs(store)
    with caplog.at_level(logging.INFO, logger="memberkit"):
        two = store.run(background_writers=True, two_readers=True)
    assert _outputs(store) == expected
    assert dataclasses.asdict(two.counts) == dataclasses.asdict(one.counts)
    assert not [p for p in store.output.iterdir() if p.name.startswith(".")]
    read_again = "reading the second half again" in caplog.text
    assert "reading the export with two processes" in caplog.text
    assert read_again == across


def test_the_split_keeps_a_customers_address_rows_with_it(tmp_path: Path) -> None:
    from memberkit.files.csv_input import open_csv
    from memberkit.services.rewards.parallel import split_point

    path = tmp_path / "c.csv"
    rows = [["ID", "Email"]]
    for i in range(1, 60):
        rows.append([f"'{i}" if i % 2 else str(i), f"m{i}@x.com"])
        rows += [[str(i), ""]] * (25 if i == 30 else 0)
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    data = path.read_bytes()
    with open_csv(path, setting="s", encoding="auto") as source:
        boundary = split_point(source, 0)
    assert boundary is not None
    assert data[:boundary].endswith(b"30,\r\n")
    assert data[boundary:].startswith(b"'31,m31@x.com\r\n")


HOSTILE_CODE_CELLS = [
    '[{"code":"H","value":1e309}]',
    '[{"code":"H","value":' + "9" * 5000 + "}]",
    "[" * 10_000 + "]" * 10_000,
    '[{"code":"H","value":"-0"}]',
    '[{"code":"H","value":"1e3"}]',
    '[{"code":"H","value":"10.00","expires":"next spring"}]',
    '[{"code":"H\\u0000\\u001b[31m","value":"1.00"}]',
]
HOSTILE_EMAILS = [
    "not-an-email",
    "a@b",
    "zw\u200bsp@x.com",
    "x@x.com\r\nBcc: y@x.com",
    "=1+1@x.com",
]


def test_hostile_cells_are_rejected_rows_and_never_stop_the_run(store: Store) -> None:
    rows = [customer("1", "ok@x.com", codes(("A", "1.00")))]
    for i, cell in enumerate(HOSTILE_CODE_CELLS, start=10):
        rows.append(customer(str(i), f"c{i}@x.com", cell))
    for i, email in enumerate(HOSTILE_EMAILS, start=30):
        rows.append(customer(str(i), email, codes(("B", "1.00"))))
    rows.append(customer("9" * 30, "big@x.com"))
    store.customers(rows)
    result = store.run()
    c = result.counts
    # "-0" is a valid amount (0.00); every other hostile row is rejected with a reason.
    assert c.rejected == len(HOSTILE_CODE_CELLS) - 1 + len(HOSTILE_EMAILS) + 1
    assert c.processed == 2 and c.add_up()
    reasons = [row[-1] for row in store.csv_rows("rejects_2026-11-20.csv")[1:]]
    assert any("too large" in r for r in reasons)
    assert any("nested too deeply" in r for r in reasons)
    assert any("too many digits" in r for r in reasons)
    assert any("exponent" in r for r in reasons)
    assert any("'next spring' is not a date" in r for r in reasons)
    assert any("contains a control character (U+0000)" in r for r in reasons)
    assert sum("is not an email address" in r for r in reasons) == len(HOSTILE_EMAILS) - 1
    assert all(len(r) < 300 for r in reasons)
    emails = [row[0] for row in store.csv_rows("max_value_2026-11-20.csv")[1:]]
    assert emails == ["ok@x.com", "c13@x.com"]
    minus_zero = store.csv_rows("max_value_2026-11-20.csv")[2]
    assert minus_zero[3] == "0.00"  # discount_value, never -0.00


def test_pass_through_columns_of_the_klaviyo_file_are_formula_safe(store: Store) -> None:
    hostile = ['=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0", "\t=1+1"]
    rows = []
    for i, state in enumerate(hostile, start=1):
        row = customer(str(i), f"m{i}@x.com", codes(("A", "1.00")))
        row[2] = state
        rows.append(row)
    store.customers(rows)
    store.run()
    states = [row[8] for row in store.csv_rows("max_value_2026-11-20.csv")[1:]]
    assert states == ["'" + state.strip() for state in hostile]  # State is read trimmed


def test_an_unreadable_created_at_is_counted_with_a_warning(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    row = customer("1", "a@x.com", codes(("A", "1.00")))
    row[3] = "next spring"
    store.customers([row, customer("2", "b@x.com")])
    result = store.run()
    assert result.counts.member_since_unreadable == 1 and result.counts.rejected == 0
    assert "1 customer row(s) have a Created At that is not a date" in caplog.text
    assert "member_since_unreadable=1" in result.summary_line()


def test_an_unterminated_quote_in_the_export_fails_the_run_naming_the_row(store: Store) -> None:
    store.customers([customer("1", "a@x.com")])
    with (store.root / "customers.csv").open("a", encoding="utf-8", newline="") as fh:
        fh.write('2,"c@x.com,enabled,,,,\r\n3,bob@x.com,enabled,,,,\r\n')
    with pytest.raises(MemberkitError, match="row 3 opens a quoted cell"):
        store.run()
    assert not (store.output / "max_value_2026-11-20.csv").exists()


def test_repeated_columns_refuse_either_export(store: Store) -> None:
    store.customers([customer("1", "a@x.com")], header=[*HEADER[:6], "Email"])
    with pytest.raises(MemberkitError, match=r"input.customers_csv .*'Email' and 'Email'"):
        store.run()
    store.customers([customer("1", "a@x.com")])
    (store.root / "orders.csv").write_text("Name,Created at,Discount Code,discount code\n")
    with pytest.raises(MemberkitError, match=r"input.discounts_csv .*appears more than once"):
        store.run()


@pytest.mark.parametrize("seed", [11, 12])
def test_two_readers_judge_hostile_rows_exactly_as_one(store: Store, seed: int) -> None:
    import random

    rnd = random.Random(seed)
    rows: list[list[str]] = []
    for i in range(1, 300):
        row = customer(str(i), f"m{i}@x.com", codes((f"C{i}", "5.00")))
        roll = rnd.random()
        if roll < 0.1:
            row[4] = rnd.choice(HOSTILE_CODE_CELLS)
        elif roll < 0.2:
            row[1] = rnd.choice(HOSTILE_EMAILS)
        elif roll < 0.25:
            row[3] = "someday"
        elif roll < 0.3:
            row[2] = "=1+1"
        rows.append(row)
    store.customers(rows)
    one = store.run(background_writers=False, two_readers=False)
    expected = _outputs(store)
    two = store.run(background_writers=True, two_readers=True)
    assert _outputs(store) == expected
    assert dataclasses.asdict(two.counts) == dataclasses.asdict(one.counts)


def test_no_cell_of_any_csv_the_run_writes_is_formula_like(store: Store) -> None:
    hostile = ["=1+1", "+cmd|' /C calc'!A0", "-1+1", "@SUM(1+1)", "\t=1+1", " =1"]
    rows = []
    for i, text in enumerate(hostile, start=1):
        row = customer(str(i), f"m{i}@x.com", codes(("A", "1.00")))
        row[2] = text  # State: passed through to the Klaviyo file
        rows.append(row)
        rows.append(customer(str(100 + i), text, codes(("B", "1.00"))))  # rejected email
        rows.append(customer(str(200 + i), f"n{i}@x.com", codes((text, "1.00"))))  # bad code
    store.customers(rows)
    store.orders([("=HYPERLINK(1)", "not a date", "A")])
    store.run()
    written = sorted(store.output.glob("*.csv"))
    assert {p.name for p in written} >= {"max_value_2026-11-20.csv", "rejects_2026-11-20.csv"}
    for path in written:
        for row in store.csv_rows(path.name):
            for cell in row:
                formula = cell.lstrip().startswith(("=", "+", "-", "@"))
                assert not formula or cell.lstrip("-").replace(".", "").isdigit(), (path, cell)


def test_the_matrixify_file_carries_the_metafield_type_of_the_export(store: Store) -> None:
    header = [*HEADER]
    header[4] = "Metafield: alpkit.discountcodes_2021 [list.single_line_text_field]"
    header[5] = "Metafield: alpkit.usedcodes_2021"  # no type in the export
    store.customers([customer("1", "a@x.com", codes(("A1", "1.00", "2020-01-01")))], header)
    store.run()
    assert store.xlsx_rows()[0][3:] == (
        "Metafield: alpkit.discountcodes_2021 [list.single_line_text_field]",
        "Metafield: alpkit.usedcodes_2021 [json]",  # codes.metafield_type, "json" by default
        "Metafield: alpkit.expiredcodes_2021 [json]",
    )
    store.run(overrides={"codes.metafield_type": ""})
    assert store.xlsx_rows()[0][4:] == (
        "Metafield: alpkit.usedcodes_2021",
        "Metafield: alpkit.expiredcodes_2021 [json]",
    )


def test_a_killed_copy_s_temporary_file_is_removed_by_the_next_run(store: Store) -> None:
    copies = store.root / "copies"
    copies.mkdir()
    target = store.root / "shared" / "reviews.csv"
    target.parent.mkdir()
    leftovers = [
        copies / ".max_value_2026-11-19.csv.x1y2z3.tmp",
        target.parent / ".reviews.csv.a1b2c3.tmp",
    ]
    others = [copies / ".rewards-notes.txt", target.parent / ".other.csv.a1b2c3.tmp"]
    for path in [*leftovers, *others]:
        path.write_text("partial")
    store.customers([customer("1", "a@x.com", codes(("A1", "1.00")))])
    store.run(
        overrides={"output.max_value_copy_to": str(copies), "output.reviews_copy_to": str(target)}
    )
    assert [p for p in leftovers if p.exists()] == []
    assert all(p.exists() for p in others)
    assert (copies / "max_value_2026-11-20.csv").is_file() and target.is_file()
