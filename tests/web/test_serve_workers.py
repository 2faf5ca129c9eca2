"""``memberkit serve`` with several processes: one session works on all, and all die with serve."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import httpx
import pytest
from tests.web.server import PASSWORD, make_server

pytestmark = pytest.mark.slow


def _stat(pid: int) -> list[str] | None:
    """State, parent pid... of a process from /proc; None when it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields


def children_of(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_two_processes_share_sessions_and_die_with_a_killed_serve(tmp_path: Path) -> None:
    server = make_server(tmp_path / "store")
    config = server.config.read_text(encoding="utf-8")
    server.config.write_text(config.replace("[web]\n", "[web]\nworkers = 2\n"), encoding="utf-8")
    server.start()
    try:
        assert server.process is not None
        deadline = time.monotonic() + 20
        while len(children_of(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = children_of(server.process.pid)
        assert len(workers) >= 2, workers
        with httpx.Client(base_url=server.url, timeout=10) as http:
            page = http.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None
            signed_in = http.post(
                "/login",
                data={"email": "viewer@example.com", "password": PASSWORD, "csrf_token": token[1]},
            )
            assert signed_in.status_code == 303, signed_in.text
            # Many requests over new connections reach both processes; every one is signed in.
            for _ in range(40):
                http.headers["Connection"] = "close"
                assert http.get("/members", follow_redirects=False).status_code == 200
        server.kill()
        deadline = time.monotonic() + 10
        alive = workers
        while alive and time.monotonic() < deadline:
            alive = [
                pid
                for pid in workers
                if Path(f"/proc/{pid}").exists()
                and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
            ]
            time.sleep(0.1)
        assert alive == [], "server processes outlived a killed serve"
        assert port_is_free(server.port)
    finally:
        server.stop()
