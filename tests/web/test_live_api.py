"""The JSON API over real HTTP against a real ``memberkit serve``, and a restart mid-import."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, insert, select
from tests.web.server import LiveServer, make_server, memberkit

from memberkit.clock import utcnow
from memberkit.services.ledger import points as ledger
from memberkit.services.ledger.members import create_member
from memberkit.store.database import open_database
from memberkit.store.models import Member

pytestmark = pytest.mark.slow
MEMBERS = [f"m{n}@example.com" for n in range(10)]
ROWS = 10000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = make_server(tmp_path / "store", chunk_size=5)
    database = open_database(f"sqlite:///{live.folder / 'memberkit.db'}")
    for email in MEMBERS:
        create_member(database, actor="cli:test", email=email)
    now = utcnow()
    with database.write() as session:
        session.execute(
            insert(Member),
            [
                {
                    "email": f"r{n}@example.com",
                    "email_key": f"r{n}@example.com",
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(ROWS)
            ],
        )
    database.dispose()
    live.start()
    yield live
    live.stop()


def token_for(server: LiveServer, email: str) -> dict[str, str]:
    done = memberkit("users", "token", email, config=server.config)
    assert done.returncode == 0, done.stderr
    return {"Authorization": f"Bearer {done.stdout.strip()}"}


def balance(server: LiveServer, email: str) -> int:
    database = open_database(f"sqlite:///{server.folder / 'memberkit.db'}")
    try:
        return ledger.get_balance(database, member=email)[1]
    finally:
        database.dispose()


def wait_for(check: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_api_with_tokens_roles_and_no_csrf(server: LiveServer) -> None:
    operator = token_for(server, "operator@example.com")
    viewer = token_for(server, "viewer@example.com")
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.get("/api/v1/members").status_code == 401
        assert (
            http.get("/api/v1/members", headers={"Authorization": "Bearer mk_nope"}).status_code
            == 401
        )
        found = http.get("/api/v1/members", params={"q": "m3@"}, headers=viewer).json()
        member_id = found["members"][0]["id"]
        body = {"action": "add", "points": 40, "note": "api", "key": "k-1"}
        assert (
            http.post(f"/api/v1/members/{member_id}/points", json=body, headers=viewer).status_code
            == 403
        )
        posted = http.post(f"/api/v1/members/{member_id}/points", json=body, headers=operator)
        assert posted.status_code == 200, posted.text
        assert posted.json()["balance"] == 40
        again = http.post(f"/api/v1/members/{member_id}/points", json=body, headers=operator)
        assert again.json()["replayed"] is True
        assert (
            http.get(f"/api/v1/members/{member_id}/balance", headers=viewer).json()["balance"] == 40
        )
        history = http.get(f"/api/v1/members/{member_id}/history", headers=viewer).json()
        assert history["entries"][0]["actor"] == "api:operator@example.com"
        assert http.get("/openapi.json", headers=viewer).json()["paths"]["/api/v1/runs"]
        assert "/api/v1/imports" in http.get("/docs", headers=viewer).text


def test_a_restart_of_serve_resumes_an_interrupted_import(server: LiveServer) -> None:
    operator = token_for(server, "operator@example.com")
    rows = ROWS
    lines = ["Email,Points,Transaction Description"]
    lines += [f"r{n}@example.com,1,row {n}" for n in range(rows)]
    with httpx.Client(base_url=server.url, timeout=30, headers=operator) as http:
        created = http.post(
            "/api/v1/imports",
            data={"kind": "points-add"},
            files={"file": ("many.csv", "\n".join(lines).encode(), "text/csv")},
        )
        assert created.status_code == 201, created.text
        import_id = created.json()["id"]
        assert created.json()["status"] == "ready", created.json()["first_failures"]
        assert http.post(f"/api/v1/imports/{import_id}/apply").status_code == 202

        def started() -> bool:
            state = http.get(f"/api/v1/imports/{import_id}").json()
            assert state["status"] != "completed", "the import finished before it could be killed"
            return state["status"] == "running" and 0 < state["position"] < rows

        wait_for(started)
    server.kill()
    assert balance(server, f"r{rows - 1}@example.com") == 0
    server.start()
    with httpx.Client(base_url=server.url, timeout=30, headers=operator) as http:
        wait_for(
            lambda: http.get(f"/api/v1/imports/{import_id}").json()["status"] == "completed", 120
        )
        state = http.get(f"/api/v1/imports/{import_id}").json()
        assert state["succeeded"] == rows and state["failed"] == 0
        assert state["job"]["attempts"] == 2
    # Every row applied exactly once across the two processes.
    database = open_database(f"sqlite:///{server.folder / 'memberkit.db'}")
    with database.read() as session:
        assert session.scalar(select(func.sum(Member.points_balance))) == rows
        assert session.scalar(select(func.max(Member.points_balance))) == 1
    database.dispose()
