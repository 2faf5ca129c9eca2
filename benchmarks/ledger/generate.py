"""Synthetic data for the ledger benchmark: members, credits, and debits that never overdraw.

    python benchmarks/ledger/generate.py --members 200000 --credits 1000000 --debits 1000000

writes ``members.csv``, ``credits.csv`` and ``debits.csv`` under
``benchmarks/data/ledger-<credits>/`` (ignored by git). The same seed gives the
same files. Credits are 10-500 points, half of them with an expiry date in
2028-2030; debits are 1-600 points, so many consume more than one lot, and
each is at most the member's balance at that point of the sequence.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"


def data_dir(credits: int) -> Path:
    """Where the files for a run of this size live."""
    return DATA / f"ledger-{credits}"


def generate(members: int, credits: int, debits: int, seed: int = 2026) -> Path:
    """Write the three CSV files and return their folder."""
    rng = random.Random(seed)
    out = data_dir(credits)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "members.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["member", "email", "shopify_id", "first_name", "last_name"])
        for i in range(1, members + 1):
            writer.writerow([i, f"member{i}@example.com", 7_000_000 + i, f"First{i}", f"Last{i}"])
    balances = [0] * (members + 1)
    first_expiry = dt.date(2028, 1, 1)
    with (out / "credits.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["member", "points", "expires_on"])
        for _ in range(credits):
            member = rng.randint(1, members)
            points = rng.randint(10, 500)
            expires = (
                (first_expiry + dt.timedelta(days=rng.randint(0, 1000))).isoformat()
                if rng.random() < 0.5
                else ""
            )
            balances[member] += points
            writer.writerow([member, points, expires])
    with (out / "debits.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["member", "points"])
        written = 0
        while written < debits:
            member = rng.randint(1, members)
            if balances[member] == 0:
                continue
            points = rng.randint(1, min(600, balances[member]))
            balances[member] -= points
            writer.writerow([member, points])
            written += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--credits", type=int, default=1_000_000)
    parser.add_argument("--debits", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    out = generate(args.members, args.credits, args.debits, args.seed)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
