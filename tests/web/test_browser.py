"""End to end in Debian's Chromium (Playwright) against a real ``memberkit serve`` process.

Playwright never downloads a browser here: it drives ``/usr/bin/chromium``
(CI installs the ``chromium`` package). Without it these tests skip, saying so.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from tests.web.server import PASSWORD, LiveServer, make_server

from memberkit.clock import utcnow
from memberkit.services.ledger import points as ledger
from memberkit.store.database import open_database
from memberkit.store.models import Member

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed (apt-get install chromium); CI installs it",
    ),
]
BIG = 4000


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    """Launch the system Chromium; never a downloaded one."""
    return {"executable_path": str(CHROMIUM), "args": ["--no-sandbox"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = make_server(tmp_path_factory.mktemp("browser") / "store", chunk_size=5)
    database = open_database(f"sqlite:///{live.folder / 'memberkit.db'}")
    now = utcnow()
    with database.write() as session:
        session.execute(
            insert(Member),
            [
                {
                    "email": f"r{n}@example.com",
                    "email_key": f"r{n}@example.com",
                    "first_name": "Row",
                    "last_name": f"Member{n}",
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(BIG)
            ],
        )
    database.dispose()
    live.start()
    yield live
    live.stop()


def balance(server: LiveServer, email: str) -> int:
    database = open_database(f"sqlite:///{server.folder / 'memberkit.db'}")
    try:
        return ledger.get_balance(database, member=email)[1]
    finally:
        database.dispose()


def sign_in(page: Any, server: LiveServer, role: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=email]", f"{role}@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")


def points_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Email", "Points", "Transaction Description"])
        writer.writerows(rows)
    return path


def upload(page: Any, server: LiveServer, file: Path) -> None:
    page.goto(f"{server.url}/imports")
    page.select_option("select[name=kind]", "points-add")
    page.set_input_files("input[name=file]", str(file))
    page.click("#import-button")
    page.wait_for_url(f"{server.url}/imports/*")


def test_sign_in_and_out(page: Any, server: LiveServer) -> None:
    page.goto(f"{server.url}/members")
    assert "/login" in page.url
    page.fill("input[name=email]", "viewer@example.com")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "wrong email or password"
    sign_in(page, server, "viewer")
    assert page.locator("#members-count").is_visible()
    page.click("#logout")
    page.wait_for_url(f"{server.url}/login")
    page.goto(f"{server.url}/")
    assert "/login" in page.url


def test_bad_file_gives_an_error_file_ending_in_failure_reason(
    page: Any, server: LiveServer, tmp_path: Path
) -> None:
    sign_in(page, server, "operator")
    upload(page, server, points_csv(tmp_path / "bad.csv", [("r1@example.com", "lots", "x")]))
    assert page.locator("#import-status").inner_text() == "Invalid"
    assert page.locator("#first-failures").is_visible()
    with page.expect_download() as info:
        page.click("#error-file")
    content = Path(info.value.path()).read_text(encoding="utf-8-sig")
    assert next(csv.reader(io.StringIO(content)))[-1] == "Failure Reason"


def test_good_file_changes_balances_and_gives_a_results_file(
    page: Any, server: LiveServer, tmp_path: Path
) -> None:
    sign_in(page, server, "operator")
    upload(
        page,
        server,
        points_csv(
            tmp_path / "good.csv",
            [("r10@example.com", "70", "Welcome"), ("r11@example.com", "5", "Hi")],
        ),
    )
    page.click("#apply-button")
    page.locator("#import-status", has_text="Completed").wait_for(timeout=30_000)
    with page.expect_download() as info:
        page.click("#results-file")
    assert Path(info.value.path()).stat().st_size > 0
    page.goto(f"{server.url}/members?q=r10@")
    page.click("text=r10@example.com")
    assert page.locator("#balance").inner_text() == "70"
    assert "web:operator@example.com" in page.locator("#ledger").inner_text()


def test_import_button_is_disabled_while_an_import_runs_then_undo(
    page: Any, server: LiveServer, tmp_path: Path
) -> None:
    sign_in(page, server, "operator")
    rows = [(f"r{n}@example.com", "1", "bulk") for n in range(1000, BIG)]
    upload(page, server, points_csv(tmp_path / "big.csv", rows))
    page.click("#apply-button")
    page.locator("#import-status", has_text="In progress").wait_for(timeout=30_000)
    detail = page.url
    page.goto(f"{server.url}/imports")
    assert page.locator("#import-button").is_disabled()
    assert "in progress" in page.locator("#busy-reason").inner_text()
    assert "In progress" in page.locator("#history").inner_text()
    page.goto(detail)
    page.locator("#import-status", has_text="Completed").wait_for(timeout=120_000)
    assert balance(server, f"r{BIG - 1}@example.com") == 1
    page.click("#undo-button")
    page.locator("#import-status", has_text="Reverted").wait_for(timeout=120_000)
    assert balance(server, f"r{BIG - 1}@example.com") == 0
    page.goto(f"{server.url}/imports")
    assert page.locator("#import-button").is_enabled()


def test_viewer_has_no_import_button_and_a_direct_post_is_403(
    page: Any, server: LiveServer
) -> None:
    sign_in(page, server, "viewer")
    page.goto(f"{server.url}/imports")
    assert page.locator("#upload-form").count() == 0
    csrf = page.locator("meta[name=csrf-token]").get_attribute("content")
    response = page.request.post(
        f"{server.url}/imports",
        multipart={
            "kind": "points-add",
            "csrf_token": csrf,
            "file": {
                "name": "x.csv",
                "mimeType": "text/csv",
                "buffer": b"Email,Points\nr1@example.com,1\n",
            },
        },
    )
    assert response.status == 403


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    page: Any, server: LiveServer
) -> None:
    sign_in(page, server, "operator")
    page.goto(f"{server.url}/members?q=r20@")
    page.click("text=r20@example.com")
    member_url = page.url
    response = page.request.post(f"{member_url}/points", form={"action": "add", "points": "99"})
    assert response.status == 403
    assert balance(server, "r20@example.com") == 0
    # The same form through the page (with its token) works.
    page.select_option("select[name=action]", "add")
    page.fill("input[name=points]", "99")
    page.click("#points-form button[type=submit]")
    assert page.locator("#balance").inner_text() == "99"
