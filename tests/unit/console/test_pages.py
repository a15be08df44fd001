"""The console's pages on the whole app (every feature wired, Postgres down): public pages
render, guarded pages send a browser to the login page, errors of page URLs are HTML pages
(the API's stay problem+json), static files are ours only, and the catalogue is complete."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.console.catalogue import LANGUAGES, Catalogue, CatalogueError
from ivr.console.errors import safe_next
from ivr.console.render import TEMPLATES
from tests.unit.http.whole_app import build_whole_app

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with AsyncExitStack() as stack:
        app = await build_whole_app(tmp_path, stack)
        c = TestClient(TestServer(app, host="127.0.0.1"), cookie_jar=aiohttp.DummyCookieJar())
        await c.start_server()
        stack.push_async_callback(c.close)
        yield c


async def test_the_login_page_is_html_with_a_strict_policy(client: Client) -> None:
    r = await client.get("/login")
    assert r.status == 200 and r.content_type == "text/html"
    body = await r.text()
    assert 'data-api="/api/login"' in body and 'name="password"' in body
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"
    assert "<script>" not in body  # no inline script: the policy would block it


async def test_a_guarded_page_sends_a_browser_to_the_login_page(client: Client) -> None:
    r = await client.get("/", allow_redirects=False)
    assert r.status == 303
    assert r.headers["Location"] == "/login?next=/"


async def test_unknown_pages_are_html_404_and_unknown_api_urls_problem_json(
    client: Client,
) -> None:
    page = await client.get("/no/such/page")
    assert page.status == 404 and page.content_type == "text/html"
    assert "<h1>" in await page.text()
    api = await client.get("/api/no-such-thing")
    assert api.status == 404 and api.content_type == "application/problem+json"


async def test_a_page_whose_database_is_down_is_an_html_503(client: Client) -> None:
    basic = {"Authorization": aiohttp.encode_basic_auth("agent1", "a-plausible-password")}
    r = await client.get("/", headers=basic)
    assert r.status == 503 and r.content_type == "text/html"


async def test_the_language_switch_sets_a_cookie_and_goes_back_to_a_local_page(
    client: Client,
) -> None:
    r = await client.get("/language/en?next=/login", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/login"
    assert "linja_lang=en" in r.headers["Set-Cookie"]
    english = await client.get("/login", headers={"Cookie": "linja_lang=en"})
    assert "Password" in await english.text()
    finnish = await client.get("/login")
    assert "Salasana" in await finnish.text()
    elsewhere = await client.get("/language/en?next=//evil.example/", allow_redirects=False)
    assert elsewhere.headers["Location"] == "/"
    assert (await client.get("/language/xx")).status == 404


@pytest.mark.parametrize(
    ("target", "safe"),
    [("/admin", "/admin"), ("//evil", "/"), ("/\\evil", "/"), ("https://x", "/"), (None, "/")],
)
def test_next_is_a_local_path_only(target: str | None, safe: str) -> None:
    assert safe_next(target) == safe


async def test_static_files_are_served_by_name_only(client: Client) -> None:
    js = await client.get("/static/console.js")
    assert js.status == 200 and js.content_type == "text/javascript"
    assert (await client.get("/static/..%2Fpages%2Fhome.py")).status == 404
    assert (await client.get("/static/nothing.js")).status == 404


def test_every_text_a_template_uses_is_in_the_catalogue_in_both_languages() -> None:
    catalogue = Catalogue.load()
    used: set[str] = set()
    for template in TEMPLATES.rglob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']\s*[,)]""", template.read_text()))
    assert used, "no t('...') found: the pattern is wrong"
    missing = sorted(used - catalogue.keys())
    assert missing == [], f"texts used by templates but not in ivr/console/catalogue: {missing}"
    for lang in LANGUAGES:
        assert catalogue.text(lang, "login.title")


def test_a_text_without_english_is_refused() -> None:
    with pytest.raises(CatalogueError, match="en"):
        Catalogue({"x.y": {"fi": "vain suomeksi"}})


async def test_the_consoles_own_requests_get_no_basic_challenge(client: Client) -> None:
    """A 401 with a Basic challenge would open the browser's password dialog over the page:
    requests marked by the console's script get the session challenge instead."""
    plain = await client.get("/api/session")
    assert plain.status == 401 and plain.headers["WWW-Authenticate"].startswith("Basic")
    marked = await client.get("/api/session", headers={"X-Linja-Console": "1"})
    assert marked.status == 401 and marked.headers["WWW-Authenticate"] == 'Session realm="linja"'
    assert marked.content_type == "application/problem+json"


def test_the_metrics_scrape_is_not_a_page() -> None:
    """An anonymous scraper gets the API's 401, not a redirect to the login page."""
    from ivr.console.errors import is_page

    assert not is_page("/metrics") and not is_page("/api/cases") and not is_page("/static/x.js")
    assert is_page("/wallboard") and is_page("/metrics-of-mine")
