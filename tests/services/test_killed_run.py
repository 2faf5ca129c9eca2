"""A killed ``memberkit rewards update`` never blocks the next one (issue 9).

A real subprocess on a generated export of a few thousand customers, with both
reader processes and the background writer forced on (the export is below the
size that turns them on by default), is SIGKILLed at seeded points: once it holds
the lock, once temporary files appear, at random sizes of those files, and
once its outputs are published (while it mirrors). Each time, its forked
children must die with it, the next run must start at once, succeed, remove
what the killed run left, and write exactly what an uninterrupted run writes
(CSV files byte for byte, the XLSX cell by cell), and mirror the same members.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from benchmarks.rewards.generate import Params, generate

TODAY = "2026-11-20"
CUSTOMERS = 3_000
SEED = 20261201
# Imported by the subprocess before the CLI: both readers and the writer process on a
# small export (they start by default only from 20 MB).
LAUNCHER = (
    "import memberkit.services.rewards.update as update; update.BACKGROUND_MIN_BYTES = 0; "
    "from memberkit.cli.main import main; main()"
)
CONFIG = """\
[input]
customers_csv = "customers_export.csv"
discounts_csv = "discounts_export.csv"

[klaviyo]
enabled = false
"""
DEADLINE_SECONDS = 60  # a bound for a hung child, never reached on a working update

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    generate(Params(CUSTOMERS, 0.3, 2_000, dt.date(2026, 11, 20), 7), folder)
    return folder


def new_store(export: Path, root: Path) -> Path:
    root.mkdir()
    for name in ("customers_export.csv", "discounts_export.csv"):
        shutil.copy(export / name, root / name)
    (root / "memberkit.toml").write_text(CONFIG, encoding="utf-8")
    return root


def start(store: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMBERKIT_", "KLAVIYO_"))}
    command = ["rewards", "update", "--config", str(store / "memberkit.toml"), "--today", TODAY]
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, *command],
        cwd=store,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"  # a zombie no one reaped yet


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Poll ``condition`` until true (or ``proc`` ends); no fixed sleeps, a generous bound."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.002)
    raise AssertionError("timed out waiting")


def temporaries(store: Path) -> list[Path]:
    output = store / "output"
    return list(output.glob(".*.tmp")) if output.is_dir() else []


def temporary_bytes(store: Path) -> int:
    total = 0
    for path in temporaries(store):
        with contextlib.suppress(OSError):  # renamed or removed meanwhile
            total += path.stat().st_size
    return total


def lock_held(store: Path) -> bool:
    path = store / "memberkit.db"
    if not path.exists():
        return False
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1) as conn:
            return bool(conn.execute("SELECT count(*) FROM job_locks").fetchone()[0])
    except sqlite3.Error:
        return False


def outputs(store: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in sorted((store / "output").glob(f"*_{TODAY}.*")):
        if path.suffix == ".xlsx":
            workbook = openpyxl.load_workbook(path, read_only=True)
            out[path.name] = {
                sheet.title: [tuple(row) for row in sheet.iter_rows(values_only=True)]
                for sheet in workbook.worksheets
            }
            workbook.close()
        else:
            out[path.name] = path.read_bytes()
    return out


def mirrored_members(store: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store / "memberkit.db") as conn:
        return conn.execute("SELECT shopify_id, email FROM members ORDER BY shopify_id").fetchall()


def kill_at(store: Path, reached: Callable[[Path], bool]) -> int | None:
    """Start an update, SIGKILL it once ``reached``; check its children die; its exit code."""
    proc = start(store)
    children: set[int] = set()

    def condition() -> bool:
        children.update(children_of(proc.pid))
        return reached(store)

    if wait_for(condition, proc):
        children.update(children_of(proc.pid))
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=DEADLINE_SECONDS)
    # The forked reader and writer die with the run (they would otherwise hold on).
    assert wait_for(lambda: all(gone(pid) for pid in children))
    return proc.returncode


def test_a_killed_update_never_blocks_the_next_and_the_rerun_writes_the_same_files(
    export: Path, tmp_path: Path
) -> None:
    reference = new_store(export, tmp_path / "reference")
    done = start(reference)
    _, err = done.communicate(timeout=DEADLINE_SECONDS)
    assert done.returncode == 0, err.decode()
    expected = outputs(reference)
    assert len(expected) == 6  # customers, max_value, reviews, both rejects, code reuse
    expected_members = mirrored_members(reference)
    assert expected_members

    rng = random.Random(SEED)
    full = sum(len(v) for v in expected.values() if isinstance(v, bytes))
    kill_points: list[tuple[str, Callable[[Path], bool]]] = [
        ("lock held", lock_held),
        ("temporaries appear", lambda s: bool(temporaries(s))),
        *(
            (f"{share:.0%} written", lambda s, n=int(full * share): temporary_bytes(s) >= n)
            for share in sorted(rng.uniform(0.05, 0.9) for _ in range(3))
        ),
        ("outputs published", lambda s: (s / "output" / f"max_value_{TODAY}.csv").exists()),
    ]
    store = new_store(export, tmp_path / "store")
    killed = 0
    for name, reached in kill_points:
        if kill_at(store, reached) == -signal.SIGKILL:
            killed += 1

        again = start(store)
        _, err = again.communicate(timeout=DEADLINE_SECONDS)
        assert again.returncode == 0, f"{name}: {err.decode()}"
        assert outputs(store) == expected, name
        assert temporaries(store) == [], name
        assert mirrored_members(store) == expected_members, name
    assert killed >= 4, f"only {killed} of {len(kill_points)} runs were killed mid-run"
