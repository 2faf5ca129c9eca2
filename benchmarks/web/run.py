"""The web benchmark: member search and member page latency under concurrent clients.

A real ``memberkit serve`` process (one uvicorn process, as shipped) on the store
``generate.py`` made; one sign-in over HTTP (``GET /login`` for the CSRF token,
``POST /login``), then ``--clients`` (20) asyncio tasks sharing that session
cookie on one ``httpx.AsyncClient`` send requests back to back for
``--seconds`` per scenario, after ``--warmup`` seconds not counted:

- **search**: ``GET /members?q=...``, each request one of: a whole email
  (``@``: the email prefix range), an email's local part (``olivia.smith.123``),
  a last name (``Smith``, as often as members have it), a first and last name,
  a Shopify id, for members drawn at random;
- **member**: ``GET /members/<id>`` (profile, lots, ledger, codes, tier history),
  half for random members, half for members with a ledger.

Every response is checked: status 200 (else an error, with its status) and the
member asked for on the page (its email in a result row, its last name in a row,
its email in the page heading; else counted as wrong), so a broken page cannot
make fast figures. Latency is the client's (``time.perf_counter`` around the
request), reported as p50, p95, p99 and max, with requests/s; each search kind
and member kind also gets a row. The issue's target: p95 < 100 ms on SQLite at
1,000,000 members.

    .venv/bin/python benchmarks/web/generate.py --members 1000000
    .venv/bin/python benchmarks/web/run.py --members 1000000 [--seconds 60] \\
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

With ``--postgres-url`` the same data is also generated into a database
``bench_web_run_<members>`` beside that one, measured, and dropped after.
Results go to ``benchmarks/out/web-<members>.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import re
import resource
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from benchmarks.web.generate import (  # noqa: E402
    build,
    cli_env,
    drop_postgres,
    folder_for,
    has_ledger,
)
from sqlalchemy import create_engine, text  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
SAMPLE = 2000
SEARCH_KINDS = (("email", 2), ("email-prefix", 2), ("last-name", 3), ("full-name", 1))
SEARCH_KINDS += (("shopify-id", 2),)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    first_name: str
    last_name: str
    shopify_id: str
    entries: int


@dataclass(frozen=True)
class Request:
    kind: str
    path: str
    params: dict[str, str] | None
    check: Callable[[str], bool]


# --- the server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """``memberkit serve`` on a free port with the store's config (as tests/web/server.py)."""

    def __init__(self, config: Path, log: Path, command: list[str], extra: list[str]) -> None:
        self.command = command
        self.extra = extra
        self.config = config
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        command = [*self.command, "serve", "--port", str(self.port), *self.extra]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=cli_env(),
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"serve did not start: {self.log.read_text()}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the server and its worker processes (Linux /proc)."""
        assert self.process is not None
        total, pids = 0, [self.process.pid]
        while pids:
            pid = pids.pop()
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pids += [int(c) for c in (task / "children").read_text().split()]
            except FileNotFoundError:
                continue
            total += int(stat[11]) + int(stat[12])
        return total / os.sysconf("SC_CLK_TCK")


def sign_in(url: str, email: str, password: str) -> httpx.Cookies:
    """The session cookie of a sign-in through the form."""
    with httpx.Client(base_url=url, follow_redirects=False) as client:
        page = client.get("/login")
        match = _CSRF.search(page.text)
        assert page.status_code == 200 and match, "no CSRF token on /login"
        done = client.post(
            "/login", data={"email": email, "password": password, "csrf_token": match.group(1)}
        )
        if done.status_code != 303:
            raise RuntimeError(f"sign-in failed: {done.status_code} {done.text[:500]}")
        home = client.get("/")
        if home.status_code != 200:
            raise RuntimeError(f"not signed in after /login: {home.status_code}")
        return client.cookies


# --- what to ask for -----------------------------------------------------------------------


def sample(url: str, members: int, seed: int) -> tuple[list[Person], list[Person]]:
    """Random members, and random members with a ledger, read from the database."""
    rng = random.Random(seed)
    anyone = rng.sample(range(1, members + 1), min(SAMPLE, members))
    ledgered = [i for i in range(1, members + 1) if has_ledger(i)]
    with_ledger = rng.sample(ledgered, min(SAMPLE, len(ledgered)))
    ids = sorted(set(anyone) | set(with_ledger))
    engine = create_engine(url)
    people: dict[int, Person] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join(str(i) for i in chunk)
            counts = dict(
                conn.execute(
                    text(
                        "SELECT member_id, count(*) FROM ledger_entries "  # noqa: S608
                        f"WHERE member_id IN ({marks}) GROUP BY member_id"
                    )
                ).all()
            )
            for row in conn.execute(
                text(
                    "SELECT id, email, first_name, last_name, shopify_id FROM members "  # noqa: S608
                    f"WHERE id IN ({marks})"
                )
            ):
                people[row[0]] = Person(*row, entries=int(counts.get(row[0], 0)))
    engine.dispose()
    return [people[i] for i in anyone], [people[i] for i in with_ledger]


def _in_row(snippet: str) -> Callable[[str], bool]:
    return lambda html: snippet in html


def search_request(kind: str, person: Person) -> Request:
    """A search for ``person`` of that kind, and what its page must show."""
    email_row = _in_row(f">{person.email}</a></td>")
    if kind == "email":
        return Request(kind, "/members", {"q": person.email}, email_row)
    if kind == "email-prefix":
        return Request(kind, "/members", {"q": person.email.split("@")[0]}, email_row)
    if kind == "shopify-id":
        return Request(kind, "/members", {"q": person.shopify_id}, email_row)
    if kind == "full-name":
        query = f"{person.first_name} {person.last_name}"
        return Request(kind, "/members", {"q": query}, _in_row(f"{query}</td>"))
    # A last name: the first page holds 50 of its members, each row "First Last</td>".
    return Request(kind, "/members", {"q": person.last_name}, _in_row(f" {person.last_name}</td>"))


def member_request(kind: str, person: Person) -> Request:
    heading = f"<small>{person.email}</small>"
    if person.entries:
        shown = f"({person.entries} entries"

        def check(html: str) -> bool:
            return heading in html and shown in html

        return Request(kind, f"/members/{person.id}", None, check)
    return Request(kind, f"/members/{person.id}", None, lambda html: heading in html)


def picker(scenario: str, anyone: list[Person], with_ledger: list[Person]) -> Any:
    kinds = [k for k, weight in SEARCH_KINDS for _ in range(weight)]

    def pick(rng: random.Random) -> Request:
        if scenario == "search":
            return search_request(rng.choice(kinds), rng.choice(anyone))
        if rng.random() < 0.5:
            return member_request("member:any", rng.choice(anyone))
        return member_request("member:with-ledger", rng.choice(with_ledger))

    return pick


# --- the load ------------------------------------------------------------------------------


async def load(
    url: str,
    cookies: httpx.Cookies,
    pick: Any,
    *,
    clients: int,
    seconds: float,
    warmup: float,
    seed: int,
) -> tuple[list[tuple[str, float, int, bool]], float]:
    """(kind, seconds, status, page right) per request after the warm-up; measured wall time."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    timeout = httpx.Timeout(60.0)
    records: list[tuple[str, float, int, bool]] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    counted_from = start + warmup
    stop = counted_from + seconds
    async with httpx.AsyncClient(
        base_url=url, cookies=cookies, limits=limits, timeout=timeout, follow_redirects=False
    ) as client:

        async def worker(n: int) -> None:
            rng = random.Random(seed * 1000 + n)
            while True:
                request = pick(rng)
                began = loop.time()
                if began >= stop:
                    return
                t0 = time.perf_counter()
                try:
                    response = await client.get(request.path, params=request.params)
                    status, body = response.status_code, response.text
                except httpx.HTTPError:
                    status, body = 0, ""
                elapsed = time.perf_counter() - t0
                if began >= counted_from:
                    right = status == 200 and request.check(body)
                    records.append((request.kind, elapsed, status, right))

        await asyncio.gather(*(worker(n) for n in range(clients)))
    return records, loop.time() - counted_from


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def figures(records: list[tuple[str, float, int, bool]], wall: float) -> dict[str, Any]:
    times = sorted(r[1] for r in records)
    statuses: dict[str, int] = {}
    for r in records:
        if r[2] != 200:
            statuses[str(r[2])] = statuses.get(str(r[2]), 0) + 1
    return {
        "requests": len(records),
        "p50_ms": round(percentile(times, 0.50) * 1000, 1),
        "p95_ms": round(percentile(times, 0.95) * 1000, 1),
        "p99_ms": round(percentile(times, 0.99) * 1000, 1),
        "max_ms": round((times[-1] if times else float("nan")) * 1000, 1),
        "mean_ms": round(sum(times) / len(times) * 1000, 1) if times else None,
        "req_per_s": round(len(records) / wall, 1),
        "errors": sum(1 for r in records if r[2] != 200),
        "error_statuses": statuses,
        "wrong": sum(1 for r in records if r[2] == 200 and not r[3]),
    }


def check_once(url: str, cookies: httpx.Cookies, anyone: list[Person]) -> None:
    """Before any timing: one search and one member page show the member they should."""
    person = anyone[0]
    with httpx.Client(base_url=url, cookies=cookies, timeout=60) as client:
        for request in (search_request("email", person), member_request("member", person)):
            response = client.get(request.path, params=request.params)
            if response.status_code != 200 or not request.check(response.text):
                raise RuntimeError(
                    f"{request.path} {request.params}: {response.status_code}, "
                    f"member {person.email} not on the page:\n{response.text[:2000]}"
                )


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_store(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    anyone, with_ledger = sample(manifest["url"], manifest["members"], args.seed)
    out: dict[str, Any] = {"database": manifest["database"], "members": manifest["members"]}
    out["generation"] = manifest["seconds"]
    out["scenarios"] = {}
    log = OUT / f"web-{manifest['members']}-{manifest['database']}-serve.log"
    command = shlex.split(args.serve_cmd) if args.serve_cmd else [sys.executable, "-m", "memberkit"]
    extra = ["--workers", str(args.workers)] if args.workers else []
    with Server(Path(manifest["config"]), log, command, extra) as server:
        cookies = sign_in(server.url, manifest["user"], manifest["password"])
        check_once(server.url, cookies, anyone)
        for scenario in args.scenarios.split(","):
            load_before = os.getloadavg()
            cpu_before = server.cpu_seconds()
            own_before = _own_cpu()
            records, wall = asyncio.run(
                load(
                    server.url,
                    cookies,
                    picker(scenario, anyone, with_ledger),
                    clients=args.clients,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    seed=args.seed,
                )
            )
            result = figures(records, wall)
            result["server_cpu_s_per_s"] = round(
                (server.cpu_seconds() - cpu_before) / (wall + args.warmup), 2
            )
            result["client_cpu_s_per_s"] = round(
                (_own_cpu() - own_before) / (wall + args.warmup), 2
            )
            result["load_before"] = [round(x, 2) for x in load_before]
            result["load_after"] = [round(x, 2) for x in os.getloadavg()]
            result["kinds"] = {
                kind: figures([r for r in records if r[0] == kind], wall)
                for kind in sorted({r[0] for r in records})
            }
            out["scenarios"][scenario] = result
            print(
                f"  {manifest['database']} {scenario}: {result['requests']} requests, "
                f"p95 {result['p95_ms']} ms, {result['errors']} errors, {result['wrong']} wrong",
                file=sys.stderr,
            )
    return out


def report(results: list[dict[str, Any]], clients: int) -> str:
    lines = [
        f"{clients} concurrent clients; latency in ms at the client; load = 1-minute load "
        "average before the scenario; server / client CPU = CPU seconds per second of the serve "
        "process / of this one (the clients).",
        "",
        "| database | members | scenario | requests | p50 | p95 | p99 | max | req/s | errors | "
        "wrong | load | server CPU | client CPU |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for name, s in r["scenarios"].items():
            rows = [(f"**{name}**", s)] + [(f"{name}: {k}", v) for k, v in s["kinds"].items()]
            for label, f in rows:
                lines.append(
                    f"| {r['database']} | {r['members']:,} | {label} | {f['requests']:,} | "
                    f"{f['p50_ms']:.1f} | {f['p95_ms']:.1f} | {f['p99_ms']:.1f} | "
                    f"{f['max_ms']:.1f} | {f['req_per_s']:.1f} | {f['errors']} | {f['wrong']} | "
                    + (
                        f"{s['load_before'][0]:.2f} | {s['server_cpu_s_per_s']:.2f} | "
                        f"{s['client_cpu_s_per_s']:.2f} |"
                        if f is s
                        else " | | |"
                    )
                )
    lines.append("")
    for r in results:
        g = r["generation"]
        lines.append(
            f"{r['database']}: data generated in {g['total']:.0f} s "
            f"(rows inserted in {g['insert']:.0f} s); not a benchmark figure."
        )
    return "\n".join(lines)


def _commit() -> str | None:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60, help="measured, per scenario")
    parser.add_argument("--warmup", type=float, default=5, help="not counted, per scenario")
    parser.add_argument("--scenarios", default="search,member")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--serve-cmd", help="run this instead of `python -m memberkit` (serve ... is appended)"
    )
    parser.add_argument("--workers", type=int, help="serve --workers N (default: web.workers)")
    parser.add_argument("--label", help="results to web-<members>-<label>.json")
    parser.add_argument("--no-sqlite", action="store_true", help="only --postgres-url")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("MEMBERKIT_TEST_DATABASE_URL", "").strip() or None
    )
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = []
    if not args.no_sqlite:
        folder = folder_for(args.members)
        if not (folder / "manifest.json").is_file():
            raise SystemExit(f"run benchmarks/web/generate.py --members {args.members} first")
        print("sqlite:", file=sys.stderr)
        results.append(run_store(folder, args))
    if args.postgres_url:
        name = f"bench_web_run_{args.members}"
        print(f"postgresql: generating into {name}", file=sys.stderr)
        try:
            folder = build(args.members, postgres_url=args.postgres_url, name=name)
            results.append(run_store(folder, args))
        finally:
            drop_postgres(args.postgres_url, name)
    info = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "clients": args.clients,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "seed": args.seed,
        "serve_cmd": args.serve_cmd,
        "workers": args.workers,
        "commit": _commit(),
    }
    name = f"web-{args.members}" + (f"-{args.label}" if args.label else "")
    (OUT / f"{name}.json").write_text(
        json.dumps({"info": info, "results": results}, indent=2), encoding="utf-8"
    )
    print(report(results, args.clients))


if __name__ == "__main__":
    main()
