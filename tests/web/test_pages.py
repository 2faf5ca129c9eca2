"""The admin's pages in process: members and manual points, imports, runs, settings, uploads."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient
from tests.web.conftest import login, run_jobs

from memberkit.config import Settings
from memberkit.services.ledger import points as ledger
from memberkit.services.ledger.members import create_member
from memberkit.store.database import open_database


@pytest.fixture
def members(settings: Settings) -> dict[str, int]:
    """Three members; jo has 100 points."""
    database = open_database(settings.database.url)
    out = {}
    for email, first, last in (
        ("jo@example.com", "Jo", "Smith"),
        ("sam@example.com", "Sam", "Smithers"),
        ("evil@example.com", "<script>alert(1)</script>", "Jones"),
    ):
        view: int = create_member(
            database, actor="cli:test", email=email, first_name=first, last_name=last
        )
        out[email] = view
    ledger.add_points(
        database,
        actor="cli:test",
        member="jo@example.com",
        points=100,
        zone=settings.processing.zone,
    )
    database.dispose()
    return out


def _balance(settings: Settings, email: str) -> int:
    database = open_database(settings.database.url)
    try:
        return ledger.get_balance(database, member=email)[1]
    finally:
        database.dispose()


def test_search_by_name_prefix_email_and_id(
    client: TestClient, people: dict[str, str], members: dict[str, int]
) -> None:
    login(client, people["viewer"])
    page = client.get("/members", params={"q": "smith"}).text
    assert "jo@example.com" in page and "sam@example.com" in page
    assert "evil@example.com" not in page
    page = client.get("/members", params={"q": "SAM@"}).text
    assert "sam@example.com" in page and "jo@example.com" not in page
    page = client.get("/members", params={"q": "jo smi"}).text
    assert "jo@example.com" in page and "sam@example.com" not in page
    page = client.get("/members", params={"q": str(members["sam@example.com"])}).text
    assert "sam@example.com" in page


def test_member_fields_are_escaped(
    client: TestClient, people: dict[str, str], members: dict[str, int]
) -> None:
    login(client, people["viewer"])
    for page in (
        client.get("/members", params={"q": "evil"}).text,
        client.get(f"/members/{members['evil@example.com']}").text,
    ):
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_operator_adds_deducts_and_sets_points_with_notes_and_is_named(
    client: TestClient, people: dict[str, str], members: dict[str, int], settings: Settings
) -> None:
    csrf = login(client, people["operator"])
    jo = members["jo@example.com"]
    for action, points, expected in (("add", "50", 150), ("deduct", "30", 120), ("set", "10", 10)):
        r = client.post(
            f"/members/{jo}/points",
            data={
                "action": action,
                "points": points,
                "note": f"{action} note",
                "internal_note": "staff only",
                "csrf_token": csrf,
            },
        )
        assert r.status_code == 303, r.text
        assert _balance(settings, "jo@example.com") == expected
    page = client.get(f"/members/{jo}").text
    assert "deduct note" in page and "staff only" in page
    assert "web:operator@example.com" in page


def test_a_double_submitted_form_posts_once(
    client: TestClient, people: dict[str, str], members: dict[str, int], settings: Settings
) -> None:
    csrf = login(client, people["operator"])
    jo = members["jo@example.com"]
    key = re.search(r'name="key" value="([^"]+)"', client.get(f"/members/{jo}").text)
    assert key
    form = {"action": "add", "points": "5", "key": key.group(1), "csrf_token": csrf}
    client.post(f"/members/{jo}/points", data=form)
    client.post(f"/members/{jo}/points", data=form)
    assert _balance(settings, "jo@example.com") == 105


def test_deducting_more_than_the_balance_is_refused_on_the_page(
    client: TestClient, people: dict[str, str], members: dict[str, int], settings: Settings
) -> None:
    csrf = login(client, people["operator"])
    jo = members["jo@example.com"]
    r = client.post(
        f"/members/{jo}/points", data={"action": "deduct", "points": "500", "csrf_token": csrf}
    )
    assert r.status_code == 409
    assert 'role="alert"' in r.text
    assert _balance(settings, "jo@example.com") == 100


def test_viewer_sees_no_points_form_and_gets_403(
    client: TestClient, people: dict[str, str], members: dict[str, int], settings: Settings
) -> None:
    csrf = login(client, people["viewer"])
    jo = members["jo@example.com"]
    assert 'id="points-form"' not in client.get(f"/members/{jo}").text
    r = client.post(
        f"/members/{jo}/points", data={"action": "add", "points": "5", "csrf_token": csrf}
    )
    assert r.status_code == 403
    assert _balance(settings, "jo@example.com") == 100


def test_dashboard_shows_figures_and_an_svg_chart(
    client: TestClient, people: dict[str, str], members: dict[str, int]
) -> None:
    login(client, people["viewer"])
    page = client.get("/").text
    assert 'id="members-count">3<' in page
    assert 'id="points-outstanding">100<' in page
    assert "<svg" in page and "series-added" in page


def test_admin_manages_tiers_and_the_config_is_masked(
    client: TestClient, people: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLAVIYO_PRIVATE_KEY", "pk_abcdefghijklmnopqrstuvwxyz123456")
    csrf = login(client, people["admin"])
    for name in ("Bronze", "Silver"):
        assert (
            client.post("/settings/tiers", data={"name": name, "csrf_token": csrf}).status_code
            == 303
        )
    page = client.get("/settings").text
    assert page.index("Bronze") < page.index("Silver")
    tier_id = re.search(r'action="/settings/tiers/(\d+)/move"', page)
    assert tier_id
    client.post(
        f"/settings/tiers/{tier_id.group(1)}/move", data={"direction": "up", "csrf_token": csrf}
    )
    page = client.get("/settings").text
    assert page.index("Silver") < page.index("Bronze")
    assert "pk_abcdefghijklmnopqrstuvwxyz123456" not in page
    assert "secret KLAVIYO_PRIVATE_KEY" in page and "**** (set)" in page
    assert "tier.move" in page  # the audit log names the change
    assert "web:admin@example.com" in page


def _points_file(rows: list[tuple[str, str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Email", "Points", "Transaction Description"])
    writer.writerows(rows)
    return out.getvalue().encode()


def _upload(client: TestClient, csrf: str, content: bytes, name: str = "points.csv") -> object:
    return client.post(
        "/imports",
        data={"kind": "points-add", "csrf_token": csrf},
        files={"file": (name, content, "text/csv")},
    )


def test_a_bad_file_gives_an_error_file_ending_in_failure_reason(
    client: TestClient, people: dict[str, str], members: dict[str, int]
) -> None:
    csrf = login(client, people["operator"])
    r = _upload(client, csrf, _points_file([("jo@example.com", "ten", "x"), ("nobody", "5", "y")]))
    assert r.status_code == 303  # type: ignore[attr-defined]
    page = client.get(r.headers["location"]).text  # type: ignore[attr-defined]
    assert "Invalid" in page and 'id="error-file"' in page
    assert 'id="apply-button"' not in page
    import_id = r.headers["location"].rsplit("/", 1)[1]  # type: ignore[attr-defined]
    errors = client.get(f"/imports/{import_id}/files/error")
    assert errors.status_code == 200
    assert "attachment" in errors.headers["content-disposition"]
    header = next(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert header[-1] == "Failure Reason"


def test_a_good_file_is_applied_by_the_worker_and_can_be_undone(
    client: TestClient,
    people: dict[str, str],
    members: dict[str, int],
    settings: Settings,
) -> None:
    csrf = login(client, people["operator"])
    r = _upload(client, csrf, _points_file([("jo@example.com", "25", "Thanks")]))
    location = r.headers["location"]  # type: ignore[attr-defined]
    import_id = location.rsplit("/", 1)[1]
    assert 'id="apply-button"' in client.get(location).text
    assert client.post(f"/imports/{import_id}/apply", data={"csrf_token": csrf}).status_code == 303
    page = client.get(location).text
    assert "Queued" in page and "hx-get" in page  # polling while queued
    # Another import cannot start while this one waits.
    assert 'id="import-button" disabled' in client.get("/imports").text
    assert run_jobs(settings) == 1
    assert _balance(settings, "jo@example.com") == 125
    page = client.get(location).text
    assert "Completed" in page and 'id="results-file"' in page and "hx-get" not in page
    results = client.get(f"/imports/{import_id}/files/results")
    assert results.status_code == 200
    assert client.post(f"/imports/{import_id}/undo", data={"csrf_token": csrf}).status_code == 303
    run_jobs(settings)
    assert _balance(settings, "jo@example.com") == 100
    assert "web:operator@example.com" in client.get("/imports").text


def test_viewer_cannot_import(
    client: TestClient, people: dict[str, str], members: dict[str, int]
) -> None:
    csrf = login(client, people["viewer"])
    assert 'id="upload-form"' not in client.get("/imports").text
    r = _upload(client, csrf, _points_file([("jo@example.com", "25", "Thanks")]))
    assert r.status_code == 403  # type: ignore[attr-defined]


def test_uploads_are_checked_by_content_not_by_name(
    client: TestClient, people: dict[str, str]
) -> None:
    csrf = login(client, people["operator"])
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    r = _upload(client, csrf, png, name="points.csv")
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert "not a CSV or XLSX" in r.text  # type: ignore[attr-defined]
    r = _upload(client, csrf, _points_file([]), name="points.xlsx")
    assert r.status_code == 422  # type: ignore[attr-defined]
    # A path in the file name is only a label.
    r = _upload(client, csrf, _points_file([("jo@example.com", "1", "x")]), name="../../etc/passwd")
    assert r.status_code == 303  # type: ignore[attr-defined]


def test_an_upload_over_the_limit_is_413(
    settings: Settings, people: dict[str, str], tmp_path: object
) -> None:
    import dataclasses

    from memberkit.web.app import create_app

    small = dataclasses.replace(settings, web=dataclasses.replace(settings.web, max_upload_mb=1))
    with TestClient(create_app(small, start_worker=False), follow_redirects=False) as c:
        csrf = login(c, people["operator"])
        big = _points_file([("jo@example.com", "1", "x" * 200)] * 6000)
        assert len(big) > 1024 * 1024
        assert _upload(c, csrf, big).status_code == 413  # type: ignore[attr-defined]


def test_downloads_only_files_an_import_owns(client: TestClient, people: dict[str, str]) -> None:
    login(client, people["viewer"])
    assert client.get("/imports/999/files/results").status_code == 404
    assert client.get("/imports/1/files/..%2F..%2Fmemberkit.toml").status_code == 404
    assert client.get("/runs/1/files/0").status_code == 404


def test_templates_download(client: TestClient, people: dict[str, str]) -> None:
    login(client, people["viewer"])
    r = client.get("/imports/templates/points-add")
    assert r.status_code == 200
    assert r.content.decode("utf-8-sig").startswith("Email,Points,Transaction Description")
    xlsx = client.get("/imports/templates/points-add", params={"format": "xlsx"})
    assert xlsx.content[:2] == b"PK"


def test_run_now_is_queued_once(client: TestClient, people: dict[str, str]) -> None:
    csrf = login(client, people["operator"])
    assert client.post("/runs", data={"dry_run": "1", "csrf_token": csrf}).status_code == 303
    assert client.post("/runs", data={"dry_run": "1", "csrf_token": csrf}).status_code == 409
    page = client.get("/runs").text
    assert "queued" in page and 'id="run-now" disabled' in page
