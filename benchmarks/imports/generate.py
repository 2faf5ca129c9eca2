"""Synthetic input for the imports benchmark: a points-add file (CSV and XLSX) for N members.

``benchmarks/data/imports-<rows>/points-add.csv`` has ``Email``, ``Points``,
``Transaction Description`` for members ``m<i>@example.com`` (i = 1..rows), one
row each, points 1-500, a description on every third row; ``points-add.xlsx``
is the same rows as a workbook (xlsxwriter, constant memory). The runner
creates the members itself. Seeded: the same size gives the same files.

    .venv/bin/python benchmarks/imports/generate.py --rows 1000000
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
SEED = 20261202


def folder_for(rows: int) -> Path:
    return DATA / f"imports-{rows}"


def generate(rows: int, *, xlsx: bool = True) -> Path:
    folder = folder_for(rows)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    values = [(f"m{i}@example.com", rng.randint(1, 500), i % 3 == 0) for i in range(1, rows + 1)]
    with (folder / "points-add.csv").open("w", encoding="utf-8", newline="") as fh:
        fh.write("Email,Points,Transaction Description\r\n")
        for email, points, described in values:
            fh.write(f"{email},{points},{'Autumn VIP bonus' if described else ''}\r\n")
    if xlsx:
        import xlsxwriter

        workbook = xlsxwriter.Workbook(str(folder / "points-add.xlsx"), {"constant_memory": True})
        sheet = workbook.add_worksheet("points")
        sheet.write_row(0, 0, ["Email", "Points", "Transaction Description"])
        for r, (email, points, described) in enumerate(values, start=1):
            sheet.write_string(r, 0, email)
            sheet.write_number(r, 1, points)
            if described:
                sheet.write_string(r, 2, "Autumn VIP bonus")
        workbook.close()
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-xlsx", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    folder = generate(args.rows, xlsx=not args.no_xlsx)
    print(f"{folder} written in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
