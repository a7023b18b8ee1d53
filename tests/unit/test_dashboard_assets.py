"""Dashboard assets and strings: vendored chart library intact, nothing from a CDN, every string in ko and en."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from starlette.requests import Request

from dashboard.i18n import STRINGS, choose_lang
from upbit_llm.commands.web import is_loopback

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"
VENDOR = DASHBOARD / "static" / "vendor" / "lightweight-charts"


def test_vendored_chart_library_matches_its_recorded_checksum_and_keeps_its_licence() -> None:
    expected, name = (VENDOR / "SHA256SUMS").read_text().split()
    assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == expected
    assert "Apache License" in (VENDOR / "LICENSE").read_text()
    head = (VENDOR / name).read_text(encoding="utf-8")[:400]
    assert "Lightweight Charts" in head and "v5.2.1" in head
    assert "5.2.1" in (VENDOR / "README.md").read_text()


def test_pages_and_scripts_load_nothing_from_another_host() -> None:
    offenders = []
    for path in [*DASHBOARD.glob("templates/*.html"), *DASHBOARD.glob("static/*.js"), *DASHBOARD.glob("static/*.css")]:
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"""(?:src|href)\s*=\s*["'](?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""", text):
            offenders.append(f"{path.name}: {text[m.start() : m.start() + 60]}")
        for m in re.finditer(r"""fetch\(\s*["'`]https?://|EventSource\(\s*["'`]https?://""", text):
            offenders.append(f"{path.name}: {text[m.start() : m.start() + 60]}")
    assert not offenders, offenders


def test_every_ui_string_has_korean_and_english() -> None:
    for key, value in STRINGS.items():
        assert set(value) == {"ko", "en"}, key
        assert value["ko"].strip() and value["en"].strip(), key


def test_templates_and_scripts_only_use_defined_strings() -> None:
    used: set[str] = set()
    for path in DASHBOARD.glob("templates/*.html"):
        used |= set(re.findall(r"\bt\.([a-z_0-9]+)", path.read_text(encoding="utf-8")))
    for path in DASHBOARD.glob("static/*.js"):
        used |= set(re.findall(r"\bT\.([a-z_0-9]+)", path.read_text(encoding="utf-8")))
    assert used, "no string references found: the pattern is wrong"
    missing = sorted(used - set(STRINGS))
    assert not missing, f"strings used but not defined: {missing}"


def _request(query: str = "", cookie: str = "", accept: str = "") -> Request:
    headers = []
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    if accept:
        headers.append((b"accept-language", accept.encode()))
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query.encode(), "headers": headers})


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "default", "expected"),
    [
        ("lang=en", "upbit_web_lang=ko", "ko-KR", "ko", "en"),  # ?lang= wins
        ("", "upbit_web_lang=en", "ko-KR", "ko", "en"),  # then the toggle's cookie
        ("", "", "en-US,en;q=0.9", "ko", "en"),  # then the browser
        ("", "", "fr-FR,ko;q=0.8", "en", "ko"),
        ("", "", "fr-FR", "ko", "ko"),  # then REPORT_LANGUAGE
        ("lang=xx", "", "", "en", "en"),  # garbage is ignored
    ],
)
def test_language_choice_follows_query_cookie_browser_then_setting(
    query: str, cookie: str, accept: str, default: str, expected: str
) -> None:
    assert choose_lang(_request(query, cookie, accept), default) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("10.1.2.3", False)],
)
def test_web_command_knows_which_binds_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_web_command_binds_loopback_by_default() -> None:
    from upbit_core.settings import Settings
    from upbit_llm.cli import build_parser

    args = build_parser().parse_args(["web"])
    assert args.host is None and args.port is None  # → WEB_HOST / WEB_PORT
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.web_host, s.web_port) == ("127.0.0.1", 8000)
