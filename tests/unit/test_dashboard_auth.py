"""The dashboard's token middleware: bearer for the API, cookie and ?token= for browsers, /healthz open."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from dashboard.auth import COOKIE_NAME, RedactTokenFilter, SessionStore, TokenAuthMiddleware

TOKEN = "s3cret-Token_value"


def _client(sessions: SessionStore | None = None) -> TestClient:
    async def ok(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse("inside " + request.url.path)

    app = Starlette(routes=[Route("/", ok), Route("/coin/{m}", ok), Route("/api/overview", ok), Route("/healthz", ok)])
    app.add_middleware(TokenAuthMiddleware, token=TOKEN, sessions=sessions)
    return TestClient(app, follow_redirects=False)


def _session_cookie(response) -> str:  # type: ignore[no-untyped-def]
    return response.headers["set-cookie"].split(f"{COOKIE_NAME}=", 1)[1].split(";", 1)[0]


def test_api_without_a_token_is_refused_with_a_bearer_challenge() -> None:
    r = _client().get("/api/overview")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in r.json()["detail"]


def test_api_with_the_right_bearer_token_gets_through_and_a_wrong_one_does_not() -> None:
    c = _client()
    assert c.get("/api/overview", headers={"Authorization": f"Bearer {TOKEN}"}).text == "inside /api/overview"
    assert c.get("/api/overview", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert c.get("/api/overview", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401


def test_a_page_opened_with_the_token_sets_a_cookie_and_drops_the_token_from_the_url() -> None:
    c = _client()
    r = c.get(f"/coin/KRW-BTC?interval=5m&token={TOKEN}")
    assert r.status_code == 303
    assert r.headers["location"] == "/coin/KRW-BTC?interval=5m"
    cookie = r.headers["set-cookie"]
    session = _session_cookie(r)
    assert len(session) >= 40
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("samesite", "SameSite")
    assert TOKEN not in cookie  # the browser keeps a random session id, never the token itself
    # The cookie now opens pages and the API (EventSource and fetch send it).
    c.cookies.set(COOKIE_NAME, session)
    assert c.get("/").text == "inside /"
    assert c.get("/api/overview").text == "inside /api/overview"


def test_a_wrong_cookie_or_wrong_query_token_is_refused() -> None:
    c = _client()
    c.cookies.set(COOKIE_NAME, "forged-session-id")
    assert c.get("/api/overview").status_code == 401
    assert c.get("/?token=wrong", headers={"Accept": "text/html"}).status_code == 401


def test_browsers_get_a_token_form_that_escapes_the_path() -> None:
    r = _client().get('/coin/"><script>x</script>', headers={"Accept": "text/html"})
    assert r.status_code == 401
    assert 'name="token"' in r.text
    assert "<script>x</script>" not in r.text


def test_query_token_works_for_api_calls_without_a_redirect() -> None:
    r = _client().get(f"/api/overview?token={TOKEN}")
    assert r.status_code == 200 and r.text == "inside /api/overview"


def test_healthz_stays_open_for_container_health_checks() -> None:
    assert _client().get("/healthz").status_code == 200


def test_access_log_lines_have_the_token_masked() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/coin/KRW-BTC?lang=ko&token={TOKEN}&x=1", "1.1", 303), None,
    )  # fmt: skip
    RedactTokenFilter().filter(record)
    line = record.getMessage()
    assert TOKEN not in line and "token=***&x=1" in line


def test_any_case_of_the_bearer_scheme_is_accepted() -> None:
    c = _client()
    for scheme in ("bearer", "BEARER", "Bearer", "bEaReR"):
        assert c.get("/api/overview", headers={"Authorization": f"{scheme} {TOKEN}"}).status_code == 200


def test_a_session_is_revoked_by_logout_and_all_sessions_by_revoke_all() -> None:
    sessions = SessionStore()
    browser, other = _client(sessions), _client(sessions)
    first = _session_cookie(browser.get(f"/?token={TOKEN}"))
    second = _session_cookie(other.get(f"/?token={TOKEN}"))
    assert first != second
    assert browser.get("/api/overview").status_code == 200
    assert browser.post("/logout").status_code == 200
    replay = _client(sessions)
    replay.cookies.set(COOKIE_NAME, first)
    assert replay.get("/api/overview").status_code == 401  # the logged-out cookie no longer opens anything
    assert other.get("/api/overview").status_code == 200
    assert sessions.revoke_all() == 1
    assert other.get("/api/overview").status_code == 401
