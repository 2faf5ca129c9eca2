"""Web admin fixtures: settings on a migrated database (SQLite and PostgreSQL), an app, users.

``client`` is an in-process ``TestClient`` (the worker not started: tests run
queued jobs with ``run_jobs``); the browser tests in ``test_browser.py`` start a
real ``memberkit serve`` process instead (``tests/web/server.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.ledger.conftest import database_url as database_url
from tests.ledger.conftest import db as db
from tests.ledger.conftest import postgres_url as postgres_url
from tests.ledger.conftest import sqlite_template as sqlite_template

from memberkit.config import Settings, load_settings
from memberkit.services import users
from memberkit.store.database import open_database
from memberkit.web.app import create_app
from memberkit.web.worker import Worker

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def write_config(folder: Path, url: str, **web: object) -> Path:
    """A memberkit.toml in ``folder`` for that database (web settings as given)."""
    lines = ["[database]", f'url = "{url}"', "[web]"]
    lines += [
        f"{k} = {v!r}".replace("'", '"') if isinstance(v, str) else f"{k} = {str(v).lower()}"
        for k, v in web.items()
    ]
    path = folder / "memberkit.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings on a migrated, empty database, with every folder under ``tmp_path``."""
    return load_settings(write_config(tmp_path, database_url), environ={})


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app in process (no worker thread), over http://testserver."""
    app = create_app(settings, start_worker=False)
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def people(settings: Settings) -> dict[str, str]:
    """One user per role: role -> email (all with PASSWORD)."""
    database = open_database(settings.database.url)
    out = {}
    for role in users.ROLES:
        email = f"{role}@example.com"
        users.create_user(database, email=email, role=role, password=PASSWORD, actor="cli:test")
        out[role] = email
    database.dispose()
    return out


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = _CSRF.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; return the session's CSRF token."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/").text)


def run_jobs(settings: Settings) -> int:
    """Run every queued job with a worker in this process; how many ran."""
    database = open_database(settings.database.url)
    worker = Worker(settings, database)
    count = 0
    while worker.run_once():
        count += 1
    database.dispose()
    return count
