"""A store for the web benchmark: N members, their ledgers, lots, codes and tiers, and a user.

``benchmarks/data/web-<members>/`` gets ``memberkit.toml`` (``[database]`` on
``memberkit.db`` beside it, ``[web]`` as ``tests/web/server.py`` writes it), the
database migrated the way the app does it (``open_database`` on a new file;
``migrations.upgrade`` on PostgreSQL), then rows inserted by the driver
(``sqlite3.executemany`` / psycopg ``COPY``), and ``manifest.json`` (counts,
seconds, the user to sign in as). Seeded: the same size gives the same data.

- members ``i = 1..N``: ``firstname.lastname.i@example.com`` (10% in mixed case),
  first and last names (a quarter of last names from 100 common ones, Smith about
  1.3%; the rest from 1,600 rarer ones), Shopify id ``6600000000 + i``, profile
  fields, 30% with reward codes in the wallet;
- every 4th member (``i % 4 == 1``) has a ledger: 1-5 credits (lots, half with an
  expiry in 2027-2029) and 0-2 debits allocated to the lots soonest expiry
  first, so ``points_balance`` is the sum of what the lots have left; every
  1,000th (``i % 1000 == 1``) has 300 entries; a third of them a tier and its
  tier history row;
- the user ``bench@example.com`` (viewer), added with ``memberkit users add``.

    .venv/bin/python benchmarks/web/generate.py --members 1000000
    .venv/bin/python benchmarks/web/generate.py --members 1000000 \\
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

With ``--postgres-url`` the data goes into a database ``bench_web_<members>``
next to the one named (dropped first if it exists; ``run.py --postgres-url``
makes its own and drops it after) and the folder is ``web-<members>-postgresql``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

DATA = Path(__file__).resolve().parents[1] / "data"
SEED = 20261202
CHUNK = 50_000
LEDGER_EVERY = 4
HEAVY_EVERY = 1000
HEAVY_ENTRIES = 300
SHOPIFY_BASE = 6_600_000_000
USER = "bench@example.com"
PASSWORD = "correct horse battery"
SECRET_KEY = "bench-secret-key-" + "x" * 32
ZONE = ZoneInfo("Europe/London")
NOW = dt.datetime(2026, 12, 2, 9, 0)


def _words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = _words(
    "Oliver George Harry Jack Jacob Noah Charlie Muhammad Thomas Oscar William James Leo "
    "Alfie Henry Joshua Freddie Archie Ethan Isaac Alexander Joseph Edward Samuel Max Logan "
    "Lucas Daniel Theo Arthur Mohammed Harrison Benjamin Mason Finley Sebastian Adam Dylan "
    "Zachary Riley Olivia Amelia Isla Ava Emily Sophia Grace Mia Poppy Ella Lily Evie Isabella "
    "Sophie Ivy Freya Harper Willow Charlotte Jessica Rosie Daisy Alice Florence Ruby Sienna "
    "Phoebe Matilda Elsie Evelyn Millie Scarlett Layla Emilia Erin Chloé Zoë Anna Hannah "
    "Lucy Ellie Maya Eva Esme Aria Holly Imogen Lola Harriet Thea Penelope Aisha Priya Ingrid "
    "Siobhán Mateo Kai"
)
COMMON_LAST_NAMES = _words(
    "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson "
    "Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson "
    "Wood Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan "
    "Allen James Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell "
    "Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan "
    "Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb "
    "Rogers Gray Mason Ali Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes "
    "Knight Lloyd Butler Russell Barker Fisher Stevens Jenkins Müller Nørgaard"
)
_STARTS = _words(
    "Ash Black Brad Brook Burn Cal Chad Craw Dal Dun Elm Fair Farn Gold Hart Hay Holt Kings "
    "Lang Mar Mel North Oak Pem Red Ross South Stan Stock Thorn Tre War West Whit Wick Win "
    "Wood Yar Alder Bram"
)
_ENDS = _words(
    "by bridge brook burn bury combe cott croft dale den don field ford gate ham hurst ington "
    "land leigh ley low mere more ney ridge shaw stead stone thorpe ton wald ward well wick "
    "win worth wright ings lake ock"
)
RARE_LAST_NAMES = [start + end for start in _STARTS for end in _ENDS]
COMMON_SHARE = 0.25
TIERS = ((1, "Bronze", 1, 0), (2, "Silver", 2, 2000), (3, "Gold", 3, 10000))

MEMBER_COLUMNS = (
    "id",
    "shopify_id",
    "email",
    "email_key",
    "first_name",
    "last_name",
    "account_state",
    "member_since",
    "birthday",
    "gender",
    "tags",
    "accepts_email_marketing",
    "total_spent",
    "orders_count",
    "tier_id",
    "points_balance",
    "points_debt",
    "ledger_version",
    "codes_available",
    "codes_used",
    "codes_expired",
    "created_at",
    "updated_at",
)
ENTRY_COLUMNS = (
    "id",
    "member_id",
    "kind",
    "points",
    "expires_on",
    "source",
    "source_ref",
    "public_note",
    "internal_note",
    "idempotency_key",
    "set_to",
    "reverses_id",
    "effective_at",
    "created_at",
    "actor",
    "batch_id",
)
LOT_COLUMNS = ("entry_id", "member_id", "points", "remaining", "expires_on", "expires_at")
ALLOCATION_COLUMNS = ("id", "lot_id", "entry_id", "points")
TIER_CHANGE_COLUMNS = (
    "id",
    "member_id",
    "from_tier_id",
    "to_tier_id",
    "changed_at",
    "reason",
    "changed_by",
    "batch_id",
)
TIER_COLUMNS = (
    "id",
    "name",
    "rank",
    "threshold",
    "entry_reward_points",
    "entry_reward_code_template",
    "created_at",
)
_ASCII = str.maketrans({"é": "e", "ë": "e", "ü": "u", "ø": "o", "á": "a"})


def folder_for(members: int, database: str = "sqlite") -> Path:
    """Where the store of this size lives."""
    return DATA / (f"web-{members}" if database == "sqlite" else f"web-{members}-{database}")


def has_ledger(member_id: int) -> bool:
    """Whether the generator gave this member ledger entries."""
    return member_id % LEDGER_EVERY == 1


def _weights(count: int) -> list[float]:
    return [1 / (rank**0.5) for rank in range(1, count + 1)]


class Rows:
    """The rows of one chunk of members, as the driver takes them (strings for SQLite)."""

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite
        self.members: list[tuple[Any, ...]] = []
        self.entries: list[tuple[Any, ...]] = []
        self.lots: list[tuple[Any, ...]] = []
        self.allocations: list[tuple[Any, ...]] = []
        self.tier_changes: list[tuple[Any, ...]] = []

    def when(self, value: dt.datetime | dt.date | None) -> Any:
        """SQLAlchemy's SQLite text format for dates and naive UTC datetimes; as is for COPY."""
        if value is None or not self.sqlite:
            return value
        if isinstance(value, dt.datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return value.isoformat()


class Generator:
    """Members one after another from one seeded ``random.Random``; ids counted up."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.entry_id = 0
        self.allocation_id = 0
        self.tier_change_id = 0
        self.first_weights = _weights(len(FIRST_NAMES))
        self.common_weights = _weights(len(COMMON_LAST_NAMES))

    def _code(self) -> dict[str, str]:
        letters = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        body = "".join(self.rng.choice(letters) for _ in range(8))
        return {
            "code": f"DIV-{body[:4]}-{body[4:]}",
            "value": self.rng.choice(("5.00", "10.00", "15.00")),
            "min_spend": self.rng.choice(("25.00", "50.00")),
            "expires": f"2027-{self.rng.randint(1, 12):02d}-28",
        }

    def _ledger(self, rows: Rows, member_id: int, count: int) -> int:
        """Credits and debits for one member; returns the balance (what the lots have left)."""
        rng = self.rng
        stamp = dt.datetime(2025, 1, 1, 8) + dt.timedelta(minutes=rng.randint(0, 60 * 24 * 200))
        lots: list[list[Any]] = []  # [entry_id, points, remaining, expires_on]
        balance = 0
        for n in range(count):
            stamp += dt.timedelta(minutes=rng.randint(60, 60 * 24 * 3))
            self.entry_id += 1
            credit = balance == 0 or n == 0 or rng.random() < 0.6
            if credit:
                points = rng.randint(10, 500)
                expires = (
                    dt.date(2027, 1, 1) + dt.timedelta(days=rng.randint(0, 1000))
                    if rng.random() < 0.5
                    else None
                )
                source = rng.choice(("import", "import", "manual", "api"))
                note = "Autumn VIP bonus" if rng.random() < 0.3 else None
                kind, signed = "credit", points
                lots.append([self.entry_id, points, points, expires])
                balance += points
            else:
                points = rng.randint(1, min(600, balance))
                expires, source, note = None, "manual", "Redeemed for a reward"
                kind, signed = "debit", -points
                left = points
                order = sorted(lots, key=lambda lot: (lot[3] is None, lot[3], lot[0]))
                for lot in order:
                    if left == 0:
                        break
                    used = min(left, lot[2])
                    if used == 0:
                        continue
                    lot[2] -= used
                    left -= used
                    self.allocation_id += 1
                    rows.allocations.append((self.allocation_id, lot[0], self.entry_id, used))
                balance -= points
            rows.entries.append(
                (
                    self.entry_id,
                    member_id,
                    kind,
                    signed,
                    rows.when(expires),
                    source,
                    f"bench {self.entry_id}" if source == "import" else None,
                    note,
                    "checked by support" if rng.random() < 0.05 else None,
                    f"bench:{self.entry_id}",
                    None,
                    None,
                    rows.when(stamp),
                    rows.when(stamp),
                    "cli:bench" if source == "import" else "web:admin@example.com",
                    None,
                )
            )
        for entry_id, points, remaining, expires in lots:
            expires_at = None
            if expires is not None:
                next_day = dt.datetime.combine(expires + dt.timedelta(days=1), dt.time(0), ZONE)
                expires_at = next_day.astimezone(dt.UTC).replace(tzinfo=None)
            rows.lots.append(
                (
                    entry_id,
                    member_id,
                    points,
                    remaining,
                    rows.when(expires),
                    rows.when(expires_at),
                )
            )
        return balance

    def member(self, rows: Rows, i: int) -> None:
        rng = self.rng
        first = rng.choices(FIRST_NAMES, self.first_weights)[0]
        if rng.random() < COMMON_SHARE:
            last = rng.choices(COMMON_LAST_NAMES, self.common_weights)[0]
        else:
            last = rng.choice(RARE_LAST_NAMES)
        local = f"{first}.{last}.{i}".translate(_ASCII)
        email = f"{local}@example.com" if rng.random() < 0.1 else f"{local.lower()}@example.com"
        balance = 0
        tier_id = None
        entries = 0
        if has_ledger(i):
            entries = HEAVY_ENTRIES if i % HEAVY_EVERY == 1 else rng.randint(1, 7)
            balance = self._ledger(rows, i, entries)
            if rng.random() < 1 / 3:
                tier_id = rng.choice((1, 1, 2, 3))
                self.tier_change_id += 1
                rows.tier_changes.append(
                    (
                        self.tier_change_id,
                        i,
                        None,
                        tier_id,
                        rows.when(NOW - dt.timedelta(days=rng.randint(1, 300))),
                        "threshold reached",
                        "system:tiers",
                        None,
                    )
                )
        available = [self._code() for _ in range(rng.randint(1, 3))] if rng.random() < 0.3 else []
        used = [self._code()] if available and rng.random() < 0.3 else []
        since = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randint(0, 4000))
        created = dt.datetime.combine(since, dt.time(12))
        birthday = (
            dt.date(rng.randint(1950, 2005), rng.randint(1, 12), rng.randint(1, 28))
            if rng.random() < 0.4
            else None
        )
        orders = rng.randint(0, 40)
        rows.members.append(
            (
                i,
                str(SHOPIFY_BASE + i),
                email,
                email.lower(),
                first,
                last,
                "enabled",
                rows.when(since),
                rows.when(birthday),
                None,
                "VIP, newsletter" if rng.random() < 0.1 else None,
                rng.random() < 0.6,
                f"{orders * rng.uniform(20, 80):.2f}",
                orders,
                tier_id,
                balance,
                0,
                entries,
                json.dumps(available),
                json.dumps(used),
                "[]",
                rows.when(created),
                rows.when(NOW),
            )
        )


# --- databases -----------------------------------------------------------------------------


def postgres_database_url(postgres_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(postgres_url).set(database=name).render_as_string(hide_password=False)


def create_postgres(postgres_url: str, name: str) -> str:
    """A fresh database ``name`` beside ``postgres_url``'s, migrated; its URL."""
    from sqlalchemy import create_engine, text

    from memberkit.store.database import Database, create_database_engine
    from memberkit.store.migrations import upgrade

    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = postgres_database_url(postgres_url, name)
    engine = create_database_engine(url)
    upgrade(Database(engine))
    engine.dispose()
    return url


def drop_postgres(postgres_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def _writer(url: str) -> Iterator[Any]:
    """``write(table, columns, rows)`` in one transaction on the driver's fast path."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database
        conn = sqlite3.connect(parsed.database, isolation_level=None)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN IMMEDIATE")

        def write(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
            marks = ", ".join("?" * len(columns))
            conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                rows,
            )

        yield write
        conn.execute("COMMIT")
        conn.close()
        return
    import psycopg

    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as pg, pg.cursor() as cur:

        def write(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

        yield write
        pg.commit()
        pg.autocommit = True
        cur.execute("ANALYZE")


def insert(url: str, members: int, seed: int = SEED) -> dict[str, int]:
    """All the rows for ``members`` members into the migrated database at ``url``; counts."""
    sqlite = url.startswith("sqlite")
    generator = Generator(seed)
    counts = dict.fromkeys(("members", "entries", "lots", "allocations", "tier_changes"), 0)
    with _writer(url) as write:
        stamp = NOW.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else NOW
        write("tiers", TIER_COLUMNS, [(*tier, None, None, stamp) for tier in TIERS])
        for start in range(1, members + 1, CHUNK):
            rows = Rows(sqlite)
            for i in range(start, min(start + CHUNK, members + 1)):
                generator.member(rows, i)
            write("members", MEMBER_COLUMNS, rows.members)
            write("ledger_entries", ENTRY_COLUMNS, rows.entries)
            write("lots", LOT_COLUMNS, rows.lots)
            write("allocations", ALLOCATION_COLUMNS, rows.allocations)
            write("tier_history", TIER_CHANGE_COLUMNS, rows.tier_changes)
            counts["members"] += len(rows.members)
            counts["entries"] += len(rows.entries)
            counts["lots"] += len(rows.lots)
            counts["allocations"] += len(rows.allocations)
            counts["tier_changes"] += len(rows.tier_changes)
            print(f"  {counts['members']:,} members", file=sys.stderr)
    return counts


def cli_env() -> dict[str, str]:
    """The environment ``memberkit`` runs with: no MEMBERKIT_/KLAVIYO_ settings but the key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMBERKIT_", "KLAVIYO_"))}
    env["MEMBERKIT_SECRET_KEY"] = SECRET_KEY
    return env


def add_user(config: Path) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "memberkit", "users", "add", USER, "--role", "viewer"),
            *("--password-stdin", "--config", str(config)),
        ],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=False,
        env=cli_env(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"memberkit users add failed:\n{done.stderr}")


def build(
    members: int, *, postgres_url: str | None = None, seed: int = SEED, name: str | None = None
) -> Path:
    """Make the store folder (config, database, rows, user, manifest.json); return it."""
    from memberkit.store.database import open_database

    started = time.perf_counter()
    folder = folder_for(members, "postgresql" if postgres_url else "sqlite")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").unlink(missing_ok=True)
    if postgres_url:
        name = name or f"bench_web_{members}"
        url = create_postgres(postgres_url, name)
    else:
        path = folder / "memberkit.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
        open_database(url).dispose()
    config = folder / "memberkit.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n[web]\nworker_poll_seconds = 1.0\n', encoding="utf-8"
    )
    migrated = time.perf_counter()
    counts = insert(url, members, seed)
    inserted = time.perf_counter()
    add_user(config)
    manifest = {
        "members": members,
        "seed": seed,
        "database": "postgresql" if postgres_url else "sqlite",
        "postgres_database": name if postgres_url else None,
        "url": url,
        "config": str(config),
        "user": USER,
        "password": PASSWORD,
        "ledger_every": LEDGER_EVERY,
        "heavy_every": HEAVY_EVERY,
        "heavy_entries": HEAVY_ENTRIES,
        "shopify_base": SHOPIFY_BASE,
        "counts": counts,
        "seconds": {
            "migrate": round(migrated - started, 1),
            "insert": round(inserted - migrated, 1),
            "total": round(time.perf_counter() - started, 1),
        },
        "sqlite_mb": (
            round((folder / "memberkit.db").stat().st_size / 1e6, 1) if not postgres_url else None
        ),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--postgres-url", help="a PostgreSQL URL (the new database sits beside)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    folder = build(args.members, postgres_url=args.postgres_url, seed=args.seed)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    print(f"{folder} written in {manifest['seconds']['total']:.1f} s: {manifest['counts']}")


if __name__ == "__main__":
    main()
