"""Sign-in, sessions, CSRF, roles, rate limits: the admin's security, over HTTP in process."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.web.conftest import PASSWORD, csrf_of, login

from memberkit.config import Settings
from memberkit.services import users
from memberkit.store.database import open_database
from memberkit.web.app import create_app
from memberkit.web.deps import ROLE_DEPENDENCIES
from memberkit.web.security import CONTENT_SECURITY_POLICY
from memberkit.web.session import COOKIE_NAME

OPEN_PATHS = {"/login", "/healthz"}
# Authenticated by Shopify's HMAC signature over the body instead of a session.
SIGNED_PATHS = {"/webhooks/shopify"}


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every endpoint route with its full path (FastAPI may wrap included routers)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _walk(inner.routes, prefix + inner.prefix)
        else:
            yield prefix + getattr(route, "path", ""), route


def test_every_route_declares_a_role(settings: Settings) -> None:
    app = create_app(settings, start_worker=False)
    checked = 0
    for path, route in _walk(app.routes):
        if path in OPEN_PATHS | SIGNED_PATHS or path.startswith("/static"):
            continue
        dependant = getattr(route, "dependant", None)
        assert dependant is not None, f"{path} is not an API route"
        calls = {d.call for d in dependant.dependencies}
        assert calls & set(ROLE_DEPENDENCIES), f"route {path} declares no role dependency"
        checked += 1
    assert checked > 20


def test_pages_redirect_to_login_and_api_says_401(client: TestClient) -> None:
    for path in ("/", "/members", "/imports", "/runs", "/settings", "/docs", "/openapi.json"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")
    response = client.get("/api/v1/members")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "login_required"
    assert client.get("/healthz").json() == {"status": "ok"}


def test_the_shopify_webhook_is_served_and_refuses_an_unsigned_post(client: TestClient) -> None:
    response = client.post(
        "/webhooks/shopify", content=b"{}", headers={"X-Shopify-Topic": "orders/paid"}
    )
    assert response.status_code == 401


def test_login_sets_a_hardened_session_cookie(client: TestClient, people: dict[str, str]) -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": people["viewer"], "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE_NAME}=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert "Max-Age=43200" in cookie
    assert "Secure" not in cookie
    assert client.get("/").status_code == 200


def test_secure_cookies_setting_marks_the_cookie_secure(
    tmp_path: object, settings: Settings, people: dict[str, str]
) -> None:
    import dataclasses

    secure = dataclasses.replace(
        settings, web=dataclasses.replace(settings.web, secure_cookies=True)
    )
    with TestClient(create_app(secure, start_worker=False), follow_redirects=False) as c:
        assert "Secure" in c.get("/login").headers["set-cookie"]


def test_wrong_password_and_unknown_email_read_the_same(
    client: TestClient, people: dict[str, str]
) -> None:
    csrf = csrf_of(client.get("/login").text)
    wrong = client.post(
        "/login", data={"email": people["admin"], "password": "nope-nope-nope", "csrf_token": csrf}
    )
    unknown = client.post(
        "/login", data={"email": "ghost@example.com", "password": PASSWORD, "csrf_token": csrf}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "wrong email or password" in wrong.text
    assert "wrong email or password" in unknown.text


def test_sixth_attempt_within_the_window_is_429_even_with_the_right_password(
    client: TestClient, people: dict[str, str]
) -> None:
    csrf = csrf_of(client.get("/login").text)
    for _ in range(5):
        r = client.post(
            "/login",
            data={"email": people["admin"], "password": "bad-password", "csrf_token": csrf},
        )
        assert r.status_code == 401
    r = client.post(
        "/login", data={"email": people["admin"], "password": PASSWORD, "csrf_token": csrf}
    )
    assert r.status_code == 429
    assert "too many failed sign-ins" in r.text


def test_failures_from_one_address_limit_every_account(
    client: TestClient, people: dict[str, str]
) -> None:
    csrf = csrf_of(client.get("/login").text)
    for n in range(5):
        client.post(
            "/login",
            data={"email": f"nobody{n}@example.com", "password": "x" * 12, "csrf_token": csrf},
        )
    r = client.post(
        "/login", data={"email": people["viewer"], "password": PASSWORD, "csrf_token": csrf}
    )
    assert r.status_code == 429


def test_login_without_csrf_token_is_refused(client: TestClient, people: dict[str, str]) -> None:
    client.get("/login")
    r = client.post("/login", data={"email": people["admin"], "password": PASSWORD})
    assert r.status_code == 403
    assert client.get("/").status_code == 303


def test_post_without_csrf_token_is_403_and_changes_nothing(
    client: TestClient, people: dict[str, str], settings: Settings
) -> None:
    login(client, people["admin"])
    r = client.post("/settings/tiers", data={"name": "Gold"})
    assert r.status_code == 403
    r = client.post("/settings/tiers", data={"name": "Gold", "csrf_token": "forged"})
    assert r.status_code == 403
    assert "Gold" not in client.get("/settings").text


def test_csrf_header_is_accepted(client: TestClient, people: dict[str, str]) -> None:
    csrf = login(client, people["admin"])
    r = client.post("/settings/tiers", data={"name": "Gold"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 303
    assert "Gold" in client.get("/settings").text


@pytest.mark.parametrize(
    ("role", "path", "allowed"),
    [
        ("viewer", "/settings/tiers", False),
        ("operator", "/settings/tiers", False),
        ("admin", "/settings/tiers", True),
        ("viewer", "/runs", False),
    ],
)
def test_roles_are_enforced_server_side(
    client: TestClient, people: dict[str, str], role: str, path: str, allowed: bool
) -> None:
    csrf = login(client, people[role])
    r = client.post(path, data={"name": "Silver", "csrf_token": csrf})
    assert (r.status_code == 303) is allowed
    if not allowed:
        assert r.status_code == 403


def test_disabled_user_is_signed_out_at_once(
    client: TestClient, people: dict[str, str], settings: Settings
) -> None:
    login(client, people["operator"])
    database = open_database(settings.database.url)
    users.set_disabled(database, email=people["operator"], disabled=True, actor="cli:test")
    database.dispose()
    assert client.get("/").status_code == 303


def test_logout_ends_the_session(client: TestClient, people: dict[str, str]) -> None:
    csrf = login(client, people["viewer"])
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/").status_code == 303


def test_session_survives_a_new_app_with_the_same_key_file(
    settings: Settings, people: dict[str, str]
) -> None:
    with TestClient(create_app(settings, start_worker=False), follow_redirects=False) as first:
        login(first, people["viewer"])
        cookie = first.cookies.get(COOKIE_NAME)
    key_file = settings.web.secret_key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with TestClient(create_app(settings, start_worker=False), follow_redirects=False) as second:
        second.cookies.set(COOKIE_NAME, cookie or "")
        assert second.get("/").status_code == 200


def test_secret_key_from_the_environment_wins(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMBERKIT_SECRET_KEY", "k" * 40)
    create_app(settings, start_worker=False)
    assert not settings.web.secret_key_file.exists()


def test_forged_cookie_is_ignored(client: TestClient) -> None:
    client.cookies.set(COOKIE_NAME, "eyJ1IjoxLCJjIjoieCJ9.forged.sig")
    assert client.get("/").status_code == 303


def test_security_headers_on_every_response(client: TestClient) -> None:
    for path in ("/login", "/healthz", "/static/admin.css", "/nope"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


def test_next_never_leaves_the_site(client: TestClient, people: dict[str, str]) -> None:
    page = client.get("/login")
    r = client.post(
        "/login",
        data={
            "email": people["viewer"],
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "//evil.example/",
        },
    )
    assert r.headers["location"] == "/"
