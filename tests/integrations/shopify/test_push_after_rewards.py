"""``shopify.push_mode = "api"``: the rewards update pushes the members it changed to Shopify.

The example store (examples/) run through ``memberkit rewards update`` against
the local Shopify: every changed customer's three code lists land as metafields,
the Matrixify file is still written (the record and the fallback), and the
summary says it need not be imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from openpyxl import load_workbook
from tests.integrations.shopify.helpers import TOKEN
from tests.servers.shopify_server import FakeShopify

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
FIRST_ID = 6601000000001
CUSTOMERS = 12


def test_the_rewards_update_pushes_changed_members_in_api_mode(
    tmp_path: Path, shopify: FakeShopify
) -> None:
    shopify.add_customers(CUSTOMERS, start=FIRST_ID)
    shutil.copytree(EXAMPLES / "input", tmp_path / "input")
    config = tmp_path / "memberkit.toml"
    config.write_text(
        (EXAMPLES / "memberkit.toml").read_text(encoding="utf-8")
        + f'\n[database]\nurl = "sqlite:///{tmp_path / "memberkit.db"}"\n'
        f'[shopify]\nshop = "{shopify.shop}"\nbase_url = "{shopify.url}"\npush_mode = "api"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMBERKIT_", "SHOPIFY_"))}
    result = subprocess.run(
        [sys.executable, "-m", "memberkit", "rewards", "update", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**env, "SHOPIFY_ACCESS_TOKEN": TOKEN},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no need to import it" in result.stdout

    (matrixify,) = (tmp_path / "output").glob("*.xlsx")
    sheet = load_workbook(matrixify, read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header, changed = rows[0], rows[1:]
    assert changed, "the example export changes some members"
    available = header.index(
        next(h for h in header if str(h).startswith("Metafield: alpkit.discountcodes_2021 "))
    )
    for row in changed:
        metafield = shopify.metafield(str(row[0]).lstrip("'"), "alpkit", "discountcodes_2021")
        assert metafield is not None, f"customer {row[0]} was not pushed"
        assert json.loads(metafield["value"]) == json.loads(str(row[available]))
