"""The login flow in a real browser: Debian's chromium driven by Playwright (SPEC §7).

A tiny web application on 127.0.0.1 sends the browser to /login, receives `?api_token=` on its callback and
checks the token against the API from its own server side, as a real application would; then it signs the
person out through /logout. JavaScript is off in the browser: the sign-in page must work without it.

Set LOGIN_SCREENSHOT=/some/file.png to keep a screenshot of the filled-in sign-in page.
"""

from __future__ import annotations

import html
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from .support import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
# Debian's browser, never a downloaded build; no background traffic of its own.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PASSWORD = "correct horse battery"

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (/usr/bin/chromium): `make test` installs it when run as "
                "root; otherwise `apt-get install chromium`", allow_module_level=True)
sync_playwright = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install -e '.[test]')"
).sync_playwright


class TinyApp:
    """A web application that uses the auth server: sign-in link, callback, API check, sign-out link."""

    def __init__(self, auth_base_url: str):
        self.auth_base_url = auth_base_url
        self.received_tokens: list[str] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if parts.path == "/":
                    login = app.auth_base_url + "/login?" + urlencode(
                        {"return_to": app.url("/callback?state=kept")})
                    return self.page("Tiny app", f'<a href="{html.escape(login)}">Sign in</a>')
                if parts.path == "/callback":
                    token = query["api_token"][0]
                    app.received_tokens.append(token)
                    me = requests.get(app.auth_base_url + "/arvados/v1/api_client_authorizations/current",
                                      headers={"Authorization": f"Bearer {token}"}, timeout=5)
                    if me.status_code != 200:
                        return self.page("Tiny app", f"token refused: {me.status_code}")
                    logout = app.auth_base_url + "/logout?" + urlencode(
                        {"api_token": token, "return_to": app.url("/signed-out")})
                    return self.page("Tiny app", f'<p id="who">Signed in as {html.escape(me.json()["owner_uuid"])}</p>'
                                                 f'<p id="state">state={html.escape(query["state"][0])}</p>'
                                                 f'<a href="{html.escape(logout)}">Sign out</a>')
                if parts.path == "/signed-out":
                    return self.page("Tiny app", '<p id="bye">Signed out</p>')
                self.send_error(404)

            def page(self, title: str, body: str):
                data = f"<!doctype html><title>{title}</title><body>{body}</body>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> "TinyApp":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("browser"), login__trust_private_networks=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def current(server, token: str) -> int:
    return requests.get(server.url("/arvados/v1/api_client_authorizations/current"),
                        headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code


def test_sign_in_and_out_in_a_real_browser(server, browser, tmp_path):
    user = server.actors.user(password=PASSWORD)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    with TinyApp(server.base_url) as app:
        page.goto(app.url("/"))
        page.get_by_role("link", name="Sign in").click()
        assert page.url.startswith(server.url("/login?"))
        assert page.title() == f"Sign in to 127.0.0.1:{app.port}"
        assert page.get_by_text("Untrusted application").is_visible()

        # A wrong password first: the same page again, with the message announced to screen readers.
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        assert page.get_by_role("alert").inner_text() == "Invalid email or password."
        assert page.get_by_label("Email").input_value() == user.email

        page.get_by_label("Password").fill(PASSWORD)
        page.screenshot(path=os.environ.get("LOGIN_SCREENSHOT") or str(tmp_path / "sign-in.png"), full_page=True)
        page.get_by_role("button", name="Sign in").click()

        # Back on the application, which received a working token and kept its own parameter.
        page.wait_for_url(app.url("/callback") + "?*")
        assert page.locator("#who").inner_text() == f"Signed in as {user.uuid}"
        assert page.locator("#state").inner_text() == "state=kept"
        assert len(app.received_tokens) == 1
        token = app.received_tokens[0]
        assert token.startswith("v2/") and current(server, token) == 200

        # Sign out: the browser comes back to the application and the token is dead.
        page.get_by_role("link", name="Sign out").click()
        page.wait_for_url(app.url("/signed-out"))
        assert page.locator("#bye").inner_text() == "Signed out"
        assert current(server, token) == 401
    context.close()


def test_the_page_refuses_a_foreign_return_to_in_the_browser(server, browser):
    page = browser.new_page()
    response = page.goto(server.url("/login?return_to=https%3A%2F%2Fevil.test%2F"))
    assert response.status == 400
    assert page.get_by_role("heading").inner_text() == "Cannot sign in"
    assert page.get_by_role("alert").inner_text().endswith("not allowed to sign in here.")
    page.close()
