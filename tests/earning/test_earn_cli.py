"""``memberkit points earn|release|pending`` end to end, as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.earning.conftest import order_rows, write_orders

from memberkit.services.ledger.members import create_member
from memberkit.store.database import open_database


def memberkit(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memberkit", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "memberkit.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n[earning]\npending_days = 0\n'
        "first_order_bonus = 25\n",
        encoding="utf-8",
    )
    db = open_database(database_url)
    create_member(db, actor="test:suite", email="ann@example.com", shopify_id="7001")
    db.dispose()
    return path


def test_an_export_earned_twice_awards_once_through_the_cli(config: Path, tmp_path: Path) -> None:
    orders = write_orders(
        tmp_path / "orders.csv",
        [
            order_rows("#1001", "ann@example.com", "42.99"),
            order_rows("#1002", "ann@example.com", "12.00", tags="wholesale"),
        ],
    )
    first = memberkit(config, "points", "earn", str(orders), "--json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["earned"] == 2 and summary["points_earned"] == 42 + 25 + 12
    again = memberkit(config, "points", "earn", str(orders))
    assert again.returncode == 0, again.stderr
    assert "0 earned" in again.stdout and "2 already earned" in again.stdout
    balance = memberkit(config, "points", "balance", "ann@example.com", "--json")
    assert json.loads(balance.stdout)["balance"] == 79
    pending = memberkit(config, "points", "pending", "ann@example.com", "--json")
    assert json.loads(pending.stdout) | {"as_of": None} == {
        "member_id": 1,
        "available": 79,
        "pending": 0,
        "as_of": None,
    }


def test_a_refund_takes_points_back_and_rejects_exit_3(config: Path, tmp_path: Path) -> None:
    paid = write_orders(tmp_path / "a.csv", [order_rows("#1001", "ann@example.com", "100.00")])
    assert memberkit(config, "points", "earn", str(paid)).returncode == 0
    later = write_orders(
        tmp_path / "b.csv",
        [
            order_rows(
                "#1001", "ann@example.com", "100.00", status="partially_refunded", refunded="50"
            ),
            order_rows("#1009", "stranger@example.com", "10.00"),
        ],
    )
    result = memberkit(config, "points", "earn", str(later), "--json")
    assert result.returncode == 3, result.stderr
    summary = json.loads(result.stdout)
    assert summary["reversed"] == 1 and summary["points_taken"] == 50
    assert summary["rejected"] == 1 and Path(summary["rejects_file"]).is_file()
    assert "no member with email 'stranger@example.com'" in result.stderr
    balance = memberkit(config, "points", "balance", "ann@example.com", "--json")
    assert json.loads(balance.stdout)["balance"] == 75  # 100 + 25 bonus - 50


def test_a_missing_column_is_one_line_with_a_hint(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Email\n#1,a@b.c\n", encoding="utf-8")
    result = memberkit(config, "points", "earn", str(bad))
    assert result.returncode != 0
    assert "missing column(s) Financial Status, Subtotal, Created at" in result.stderr
    assert "Traceback" not in result.stderr
