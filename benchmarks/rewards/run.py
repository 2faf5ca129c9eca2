"""Benchmark ``memberkit rewards update`` on generated exports: wall time, throughput, peak memory.

``python benchmarks/rewards/run.py --customers 1000000 --changed 0.1`` generates (or
reuses) ``benchmarks/data/rewards-1000000-0.1/``, writes a ``memberkit.toml`` there
(Klaviyo off, inputs pointing at the generated files, outputs and logs in that
folder), runs the update as a child process, and reports wall time, customers/s,
input rows/s, the child's peak RSS (from ``wait4``, so only that process tree),
exit code and the row counts of every output file, checked against the generator's
``expected.json``. Each run appends one JSON line to ``benchmarks/out/rewards.jsonl``.

It measures the default config: the database mirror on (``--mirror off`` for the
file pipeline alone), into a fresh SQLite file in that folder per run (the first
run of a store: every changed member inserted), or into ``--database-url``
(PostgreSQL: a migrated database; its members are emptied before each run).

Run it with the project's interpreter (``.venv/bin/python``) so the ``memberkit``
console script beside it is found, or pass ``--cmd``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCHMARKS = HERE.parent
REPO = BENCHMARKS.parent
RESULTS = BENCHMARKS / "out" / "rewards.jsonl"
TARGET_SECONDS = 20.0
TARGET_PEAK_MB = 1500.0  # 1.5 GB, in MB of 10**6 bytes
# Environment that would change what the child does: the benchmark's own config wins.
NOT_THERE = "the command does not exist"
SCRUBBED_ENV_PREFIXES = ("MEMBERKIT_", "KLAVIYO_", "SHOPIFY_")

CONFIG_TEMPLATE = """\
# Written by benchmarks/rewards/run.py for one benchmark data set; rewritten every run.
[input]
customers_csv = "customers_export.csv"
discounts_csv = "discounts_export.csv"
encoding = "auto"

[output]
directory = "output"
archive_directory = "output/archive"

[log]
directory = "logs"
level = "INFO"

[processing]
timezone = "{timezone}"

[klaviyo]
enabled = false

[klaviyo_upload]
enabled = false

[database]
# The default config mirrors into the database (--mirror off: the file pipeline alone).
url = "{database_url}"
mirror_rewards_update = {mirror}
"""

# Output file name patterns (the config's defaults) and the expected.json key for each.
OUTPUT_FILES = {
    "customers_xlsx": ("customers_{}.xlsx", "customers_xlsx_rows"),
    "max_value_csv": ("max_value_{}.csv", "max_value_rows"),
    "reviews_csv": ("for_reviews_{}.csv", "reviews_rows"),
    "rejects_csv": ("rejects_{}.csv", "rejects_rows"),
    "rejects_usage_csv": ("rejects_usage_{}.csv", "rejects_usage_rows"),
}


def data_folder(customers: int, changed: float) -> Path:
    return BENCHMARKS / "data" / f"rewards-{customers}-{changed:g}"


def ensure_data(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Generate the exports unless the folder already holds them for the same parameters."""
    wanted = {
        "customers": args.customers,
        "changed": args.changed,
        "usage_rows": args.usage_rows,
        "today": args.today,
        "seed": args.seed,
    }
    expected_path = folder / "expected.json"
    inputs = [folder / "customers_export.csv", folder / "discounts_export.csv"]
    if expected_path.exists() and all(p.exists() for p in inputs):
        expected: dict[str, Any] = json.loads(expected_path.read_text(encoding="utf-8"))
        if {k: expected["params"].get(k) for k in wanted} == wanted:
            print(f"reusing data in {folder}")
            return expected
        print(f"parameters changed; regenerating {folder}")
    argv = [sys.executable, str(HERE / "generate.py"), "--out", str(folder)]
    for key, value in wanted.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    print(f"generation took {time.perf_counter() - started:.1f} s")
    fresh: dict[str, Any] = json.loads(expected_path.read_text(encoding="utf-8"))
    return fresh


def update_command(args: argparse.Namespace) -> list[str]:
    """The command prefix: ``--cmd`` if given, else the console script next to this Python."""
    if args.cmd:
        return shlex.split(args.cmd)
    script = Path(sys.executable).parent / "memberkit"
    if not script.exists():
        raise SystemExit(
            f"memberkit is not installed next to {sys.executable} (no {script}).\n"
            "Run scripts/test once to create .venv, then use .venv/bin/python "
            "benchmarks/rewards/run.py ..., or pass --cmd 'memberkit rewards update'."
        )
    return [str(script), "rewards", "update"]


def count_csv_rows(path: Path) -> int:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return max(sum(1 for _ in csv.reader(f)) - 1, 0)


def count_xlsx_rows(path: Path) -> int:
    """Data rows of the first sheet, counted in the XML (openpyxl would take minutes)."""
    with zipfile.ZipFile(path) as book:
        sheets = sorted(n for n in book.namelist() if re.match(r"xl/worksheets/sheet\d+\.xml", n))
        rows = 0
        tail = b""
        with book.open(sheets[0]) as sheet:
            while chunk := sheet.read(1 << 20):
                data = tail + chunk
                rows += len(re.findall(rb"<row[ >]", data))
                tail = data[-4:]  # a tag split across chunks is counted in the next one
    return max(rows - 1, 0)


def count_outputs(folder: Path, today: str) -> dict[str, int | None]:
    counts: dict[str, int | None] = {}
    for key, (pattern, _) in OUTPUT_FILES.items():
        path = folder / "output" / pattern.format(today)
        if not path.exists():
            counts[key] = None
        elif path.suffix == ".xlsx":
            counts[key] = count_xlsx_rows(path)
        else:
            counts[key] = count_csv_rows(path)
    return counts


def child_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_ENV_PREFIXES)}


def fresh_database(url: str | None, folder: Path) -> None:
    """An empty store before each run: no SQLite file, or no members on PostgreSQL."""
    for name in ("memberkit.db", "memberkit.db-wal", "memberkit.db-shm"):
        (folder / name).unlink(missing_ok=True)
    if url is None:
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE members, profile_changes, outbox, outbox_deliveries, "
                "rewards_runs, job_locks RESTART IDENTITY CASCADE"
            )
        )
    engine.dispose()


def run_once(
    command: list[str], folder: Path, database_url: str | None = None
) -> tuple[int, float, float, str]:
    """Run the update; return exit code, wall seconds, peak RSS in MB, and stderr's text."""
    for sub in ("output", "logs"):
        shutil.rmtree(folder / sub, ignore_errors=True)
    fresh_database(database_url, folder)
    stdout_path, stderr_path = folder / "run.stdout.txt", folder / "run.stderr.txt"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        started = time.perf_counter()
        try:
            child = subprocess.Popen(command, stdout=out, stderr=err, env=child_environment())
        except FileNotFoundError:
            raise SystemExit(f"cannot run {command[0]!r}: no such program") from None
        # wait4 gives this child's own resource usage, unlike RUSAGE_CHILDREN, which
        # would also count the generator and earlier repeats.
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
    peak_mb = usage.ru_maxrss * 1024 / 1e6  # ru_maxrss is in KiB on Linux
    return (
        child.returncode,
        wall,
        peak_mb,
        stderr_path.read_text(encoding="utf-8", errors="replace"),
    )


def read_summary(folder: Path) -> dict[str, str]:
    """The last ``summary`` line of logs/process.log as key=value pairs (empty if none)."""
    log = folder / "logs" / "process.log"
    if not log.exists():
        return {}
    lines = [
        x for x in log.read_text(encoding="utf-8", errors="replace").splitlines() if "summary" in x
    ]
    return dict(re.findall(r"(\w+)=(\S+)", lines[-1])) if lines else {}


def compare_summary(summary: dict[str, str], expected: dict[str, Any]) -> list[str]:
    """Differences between the update's own summary and expected.json, for known keys."""
    usage = expected["usage"]
    acceptable: dict[str, set[int]] = {
        "changed": {expected["changed"]},
        "rejected": {expected["rejected"]},
        "processed": {expected["processed"]},
        "skipped_repeated_id": {expected["repeated_id_rows_skipped"]},
        "customers_read": {expected["customer_rows"]},
        "codes_moved_to_used": {expected["codes"]["moved_to_used"]},
        "codes_moved_to_expired": {expected["codes"]["moved_to_expired"]},
        "usage_rejected": {usage["rejected_rows"]},
        # counted per occurrence or per distinct code: the issue does not say which
        "unmatched_already_used": {
            usage["unmatched_already_used"],
            usage["unmatched_already_used_distinct"],
        },
        "unmatched_not_member_code": {
            usage["unmatched_not_member"],
            usage["unmatched_not_member_distinct"],
        },
    }
    problems = []
    for key, wanted in acceptable.items():
        if key in summary and summary[key].isdigit() and int(summary[key]) not in wanted:
            problems.append(
                f"{key}={summary[key]} (expected {' or '.join(map(str, sorted(wanted)))})"
            )
    return problems


def explain_failure(code: int, stderr: str) -> str:
    if code == 2 and re.search(r"No such command|no such option|Got unexpected extra", stderr):
        return (
            f"{NOT_THERE} yet (or takes other options): "
            "`memberkit rewards update --config PATH --today DATE` has not landed on this branch"
        )
    if code < 0:
        return f"killed by signal {-code}"
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message on stderr"


def record_result(record: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--changed", type=float, required=True)
    parser.add_argument("--usage-rows", type=int, default=50_000)
    parser.add_argument("--today", default="2026-11-20", help="run date passed to --today")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="runs on the same data")
    parser.add_argument("--keep", action="store_true", help="keep output/ and logs/ afterwards")
    parser.add_argument(
        "--mirror",
        choices=["on", "off"],
        default="on",
        help="the database mirror (on: the default config)",
    )
    parser.add_argument(
        "--database-url",
        help="mirror into this (migrated) database instead of a SQLite file in the data folder",
    )
    parser.add_argument(
        "--cmd",
        help="command to run instead of <venv>/bin/memberkit rewards update "
        "(--config and --today are appended)",
    )
    args = parser.parse_args(argv)
    try:
        dt.date.fromisoformat(args.today)
    except ValueError:
        parser.error(f"--today {args.today!r} is not YYYY-MM-DD")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    folder = data_folder(args.customers, args.changed)
    command = update_command(args)
    expected = ensure_data(args, folder)
    config = folder / "memberkit.toml"
    config.write_text(
        CONFIG_TEMPLATE.format(
            timezone=expected["params"]["timezone"],
            database_url=args.database_url or "sqlite:///memberkit.db",
            mirror="true" if args.mirror == "on" else "false",
        ),
        encoding="utf-8",
    )
    command = [*command, "--config", str(config), "--today", args.today]
    input_rows = expected["customer_rows"] + expected["usage"]["rows"]
    print("running:", shlex.join(command))
    where = args.database_url.split("@")[-1] if args.database_url else "a fresh SQLite file"
    print(f"database mirror {args.mirror}" + (f", into {where}" if args.mirror == "on" else ""))

    worst = 0
    for attempt in range(1, args.repeat + 1):
        code, wall, peak_mb, stderr = run_once(command, folder, args.database_url)
        outputs = count_outputs(folder, args.today)
        checks = {
            key: (outputs[key], expected["outputs"][want])
            for key, (_, want) in OUTPUT_FILES.items()
        }
        summary = read_summary(folder)
        summary_problems = compare_summary(summary, expected)
        mismatched = sorted(k for k, (got, want) in checks.items() if got != want)
        record = {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "commit": git_commit(),
            "host": {
                "cpus": os.cpu_count(),
                "machine": platform.machine(),
                "python": platform.python_version(),
            },
            "customers": args.customers,
            "changed": args.changed,
            "usage_rows": args.usage_rows,
            "seed": args.seed,
            "today": args.today,
            "attempt": attempt,
            "mirror": args.mirror,
            "database": (
                "sqlite" if args.database_url is None else args.database_url.split(":", 1)[0]
            ),
            "command": command,
            "exit_code": code,
            "wall_s": round(wall, 3),
            "customers_per_s": round(args.customers / wall),
            "input_rows_per_s": round(input_rows / wall),
            "peak_rss_mb": round(peak_mb, 1),
            "outputs": outputs,
            "expected_outputs": {k: want for k, (_, want) in checks.items()},
            "outputs_match_expected": not mismatched,
            "summary": summary,
            "summary_problems": summary_problems,
            "meets_target": code in (0, 3)
            and wall <= TARGET_SECONDS
            and peak_mb <= TARGET_PEAK_MB
            and not mismatched,
        }
        print(
            f"[{attempt}/{args.repeat}] exit {code}  wall {wall:.2f} s  "
            f"{args.customers / wall:,.0f} customers/s  {input_rows / wall:,.0f} input rows/s  "
            f"peak RSS {peak_mb:,.0f} MB"
        )
        for key, (got, want) in checks.items():
            if code not in (0, 3) and got is None:
                continue
            note = "" if got == want else "   <-- expected " + f"{want:,}"
            shown = "missing" if got is None else f"{got:,}"
            print(f"    {key:18} {shown:>12}{note}")
        if summary:
            print(f"    summary: {'matches expected.json' if not summary_problems else 'differs'}")
        for problem in summary_problems:
            print(f"    summary differs: {problem}")
        if code not in (0, 3):
            reason = explain_failure(code, stderr)
            print(f"    the update failed: {reason}", file=sys.stderr)
            print(f"    full stderr: {folder / 'run.stderr.txt'}", file=sys.stderr)
            if reason.startswith(NOT_THERE):
                return 2  # nothing measured, nothing recorded
            record_result(record)
            worst = max(worst, 1)
            break
        record_result(record)
        verdict = "meets" if record["meets_target"] else "misses"
        print(
            f"    {verdict} the target ({TARGET_SECONDS:.0f} s, {TARGET_PEAK_MB:,.0f} MB, "
            f"outputs as expected)"
        )
        if mismatched:
            worst = max(worst, 1)
    print(f"results appended to {RESULTS.relative_to(REPO)}")
    if not args.keep:
        for sub in ("output", "logs"):
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(folder / sub)
    return worst


if __name__ == "__main__":
    sys.exit(main())
