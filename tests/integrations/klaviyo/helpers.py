"""Helpers for the Klaviyo tests: clients on the local server, a store folder, a sleep recorder."""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.servers.klaviyo_server import FakeKlaviyo

from memberkit.config import Secret, Settings, load_settings
from memberkit.domain.max_value import CSV_COLUMNS, MaxValueRow
from memberkit.integrations.klaviyo import KlaviyoClient, RetryPolicy

API_KEY = "pk_test_key"


class SleepRecorder:
    """Records the client's back-off waits and sleeps a tiny fraction of them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(min(seconds, 0.01))


def make_client(fake: FakeKlaviyo, **kwargs: Any) -> KlaviyoClient:
    options: dict[str, Any] = {
        "api_key": Secret(API_KEY),
        "base_url": fake.url,
        "retry": RetryPolicy(limit=3, delay_ms=10),
        "timeout_seconds": 2.0,
    }
    options.update(kwargs)
    return KlaviyoClient(**options)


@dataclass
class Store:
    """A store folder with a memberkit.toml pointing at the local Klaviyo."""

    root: Path
    config: Path

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(self.config, environ={}, overrides=overrides)


def write_store(
    root: Path, fake: FakeKlaviyo, *, key: str | None = API_KEY, extra: str = ""
) -> Store:
    (root / "config").mkdir(parents=True, exist_ok=True)
    if key is not None:
        (root / "config" / "api.env").write_text(f"KLAVIYO_PRIVATE_KEY={key}\n")
    config = root / "memberkit.toml"
    config.write_text(
        f"""
[klaviyo]
enabled = true
fetch_mode = "segment"
segment_id = "XVnnDX"
suppressed_segment_id = "SJPRME"
base_url = "{fake.url}"
timeout_seconds = 1
fetch_workers = 4

[klaviyo_upload]
enabled = true
chunk_size = 50
retry_limit = 3
retry_delay_ms = 10
job_timeout_seconds = 3
poll_interval_seconds = 0.05
{extra}
"""
    )
    return Store(root, config)


def max_value_row(n: int, *, email: str | None = None, balance: str = "10.50") -> MaxValueRow:
    """A member's max-value row; ``n`` varies the values."""
    return MaxValueRow(
        email=email or f"member{n}@example.com",
        has_dividends=n % 2 == 0,
        discount_code=f"DIV-{n:04d}" if n % 2 == 0 else "",
        discount_value=Decimal(balance),
        min_spend=Decimal("50.00"),
        multiple_codes=n % 3 == 0,
        number_of_codes=n % 5,
        balance=Decimal(balance),
        account_state="enabled",
        member_since="" if n % 4 == 0 else "2021-03-04",
    )


def write_max_value_csv(path: Path, rows: list[MaxValueRow]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow(row.csv_cells())
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))
