"""Browser login and logout over HTTP against the real server (SPEC §7, §10)."""

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from authserver.ids import secret_digest, split_token

from .login_session import LoginSession, form_return_to, token_from_redirect
from .support import LiveServer
from .test_return_to import REFUSED

TRUSTED = ["https://trusted.test", "https://*.trusted.test"]
ALLOWED = ["http://allowed.test:8080"]
PASSWORD = "correct horse battery"
SPEC_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = LiveServer(
        tmp_path_factory.mktemp("login"),
        login__trusted_clients=TRUSTED,
        login__allowed_clients=ALLOWED,
        login__token_lifetime="2h",
    ).start()
    yield server
    server.stop()


@pytest.fixture
def user(server):
    return server.actors.user(password=PASSWORD)


@pytest.fixture
def session(server):
    return LoginSession(server.base_url)


def token_count(server) -> int:
    return server.actors.storage.models.Token.select().count()


def current(server, token: str) -> requests.Response:
    return requests.get(server.url("/arvados/v1/api_client_authorizations/current"),
                        headers={"Authorization": f"Bearer {token}"}, timeout=5)


def assert_login_headers(response: requests.Response) -> None:
    for name, value in SPEC_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src" not in policy and "'unsafe-inline'" not in policy
    assert "Access-Control-Allow-Origin" not in response.headers  # no CORS on /login, /logout


def assert_refusal_page(response: requests.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("text/html")
    assert "api_token" not in response.text and 'name="password"' not in response.text
    # The allow-list is not echoed (nor the refused URL).
    for host in ("trusted.test", "allowed.test"):
        assert host not in response.text
    assert_login_headers(response)


# --- return_to refusals, on every path that issues or redirects ---------------------------------------------


@pytest.mark.parametrize("url", REFUSED.values(), ids=REFUSED.keys())
def test_login_form_refuses(server, session, url):
    assert_refusal_page(session.form(url))


@pytest.mark.parametrize("url", REFUSED.values(), ids=REFUSED.keys())
def test_login_post_refuses_and_mints_nothing(server, session, user, url):
    assert session.form("https://trusted.test/").status_code == 200  # a valid CSRF cookie and token
    before = token_count(server)
    response = session.submit(url, user.email, PASSWORD)
    assert_refusal_page(response)
    assert token_count(server) == before


# An empty return_to on logout means "none": the signed-out page (tested below).
LOGOUT_REFUSED = {name: url for name, url in REFUSED.items() if url}


@pytest.mark.parametrize("url", LOGOUT_REFUSED.values(), ids=LOGOUT_REFUSED.keys())
def test_logout_refuses_redirect_but_still_expires_the_token(server, session, url):
    actor = server.actors.token("trusted")
    response = session.logout(url, token=actor.token)
    assert_refusal_page(response)
    assert current(server, actor.token).status_code == 401


def test_login_form_without_return_to_is_400(session):
    response = session.form(None)
    assert_refusal_page(response)
    assert "return_to is missing" in response.text


# --- the sign-in form --------------------------------------------------------------------------------------


def test_form_is_accessible_and_names_the_application(server, session):
    response = session.form("HTTPS://App.Trusted.Test/x?y=1")
    assert response.status_code == 200
    assert_login_headers(response)
    page = response.text
    assert '<html lang="en">' in page
    assert '<label for="email">' in page and 'id="email" name="email"' in page
    assert '<label for="password">' in page and 'id="password" name="password" type="password"' in page
    assert 'autocomplete="username"' in page and 'autocomplete="current-password"' in page
    assert '<form method="post" action="/login">' in page and "<script" not in page
    assert "<strong>app.trusted.test</strong>" in page and "Trusted application" in page
    # The upper-case host is canonicalised, not refused; the form carries the canonical URL.
    assert form_return_to(response) == "https://app.trusted.test/x?y=1"
    # The redirect after the POST goes to the application's origin: the form-action allows it.
    assert "form-action 'self' https://app.trusted.test;" in response.headers["Content-Security-Policy"]
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_form_shows_an_untrusted_application(session):
    response = session.form("http://allowed.test:8080/")
    assert "<strong>allowed.test:8080</strong>" in response.text and "Untrusted application" in response.text


def test_form_escapes_the_application_name_and_url(server, session):
    with server.actors.storage.write():
        server.actors.clients.find_or_create("https://named.test/", name='<img src=x onerror="alert(1)">')
    response = session.form('https://named.test/"><script>alert(1)</script>')
    assert response.status_code == 200
    assert "<img" not in response.text and "<script>" not in response.text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in response.text
    assert form_return_to(response) == "https://named.test/%22%3E%3Cscript%3Ealert(1)%3C/script%3E"


# --- signing in --------------------------------------------------------------------------------------------


def test_sign_in_to_a_trusted_client(server, session, user):
    response = session.sign_in("https://trusted.test/app?x=1&api_token=planted&y=two#frag", user.email, PASSWORD)
    assert_login_headers(response)
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path, location.fragment) == (
        "https", "trusted.test", "/app", "frag")
    query = parse_qsl(location.query)
    token = token_from_redirect(response)
    assert query == [("x", "1"), ("y", "two"), ("api_token", token)]  # the planted api_token is replaced
    assert token.startswith("v2/")
    record = current(server, token)
    assert record.status_code == 200
    body = record.json()
    assert body["owner_uuid"] == user.uuid and body["scopes"] == ["all"]
    assert body["created_by_ip_address"] == "127.0.0.1"
    expires = datetime.strptime(body["expires_at"][:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
    assert abs(expires - (datetime.now(timezone.utc) + timedelta(hours=2))) < timedelta(minutes=1)
    # A trusted token may list its user's tokens (SPEC §5).
    listing = requests.get(server.url("/arvados/v1/api_client_authorizations"),
                           headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert listing.status_code == 200
    # The secret is stored only as its digest.
    uuid, secret = split_token(token)
    row = server.actors.storage.models.Token.get(server.actors.storage.models.Token.uuid == uuid)
    assert row.secret_digest == secret_digest(secret)


def test_sign_in_to_an_allowed_client_makes_an_untrusted_client_once(server, user):
    ApiClient = server.actors.storage.models.ApiClient
    tokens = [token_from_redirect(LoginSession(server.base_url).sign_in("http://ALLOWED.test:8080/cb",
                                                                         user.email.upper(), PASSWORD))
              for _ in range(2)]
    clients = list(ApiClient.select().where(ApiClient.url_prefix == "http://allowed.test:8080/"))
    assert len(clients) == 1 and not clients[0].is_trusted
    for token in tokens:
        assert current(server, token).json()["api_client_id"] == clients[0].id
        # An untrusted token may not list tokens (SPEC §5).
        listing = requests.get(server.url("/arvados/v1/api_client_authorizations"),
                               headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert listing.status_code == 403


@pytest.mark.parametrize(
    ("email", "password"),
    [("wrong-password", "not the password"), ("no-such-user@example.org", PASSWORD), ("", PASSWORD),
     ("user", "")],
)
def test_bad_credentials_get_the_form_and_one_generic_message(server, session, user, email, password):
    email = user.email if email in ("wrong-password", "user") else email
    session.form("https://trusted.test/")
    before = token_count(server)
    response = session.submit("https://trusted.test/", email, password)
    assert response.status_code == 401
    assert_login_headers(response)
    assert '<p class="alert" id="form-alert" role="alert">Invalid email or password.</p>' in response.text
    assert 'name="password"' in response.text and PASSWORD not in response.text
    assert token_count(server) == before


def test_inactive_user_cannot_sign_in(server, session):
    inactive = server.actors.user(password=PASSWORD)
    User = server.actors.storage.models.User
    with server.actors.storage.write():
        User.update(is_active=False).where(User.id == inactive.id).execute()
    response = session.sign_in("https://trusted.test/", inactive.email, PASSWORD)
    assert response.status_code == 401 and "Invalid email or password." in response.text


def test_credentials_in_the_url_are_ignored(server, session, user):
    session.form("https://trusted.test/")
    response = session.http.post(
        server.url("/login"),
        params={"email": user.email, "password": PASSWORD},
        data={"return_to": "https://trusted.test/", "csrf_token": session.csrf_token},
        allow_redirects=False, timeout=5,
    )
    assert response.status_code == 401


# --- CSRF --------------------------------------------------------------------------------------------------


def test_post_without_a_csrf_token_is_403(server, session, user):
    session.form("https://trusted.test/")
    before = token_count(server)
    response = session.submit("https://trusted.test/", user.email, PASSWORD, csrf_token=None)
    assert response.status_code == 403
    assert_login_headers(response)
    assert token_count(server) == before


def test_post_without_the_cookie_is_403(server, user):
    session = LoginSession(server.base_url)
    session.form("https://trusted.test/")
    session.http.cookies.clear()
    assert session.submit("https://trusted.test/", user.email, PASSWORD).status_code == 403


def test_post_with_another_browsers_token_is_403(server, user):
    victim, attacker = LoginSession(server.base_url), LoginSession(server.base_url)
    victim.form("https://trusted.test/")
    attacker.form("https://trusted.test/")
    response = victim.submit("https://trusted.test/", user.email, PASSWORD, csrf_token=attacker.csrf_token)
    assert response.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.test"},
        {"Origin": "http://127.0.0.1:1"},
        {"Origin": "http://localhost"},
        {"Origin": "not a url"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_post_from_another_origin_is_403(server, session, user, headers):
    session.form("https://trusted.test/")
    before = token_count(server)
    response = session.submit("https://trusted.test/", user.email, PASSWORD, headers=headers)
    assert response.status_code == 403
    assert "another site" in response.text
    assert token_count(server) == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "ORIGIN"},
        {"Origin": "ORIGIN", "Sec-Fetch-Site": "same-origin"},
        # What a browser sends from our page: its referrer policy (no-referrer) makes the Origin "null".
        {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    ],
)
def test_post_from_our_own_origin_is_accepted(server, session, user, headers):
    session.form("https://trusted.test/")
    headers = {name: server.base_url if value == "ORIGIN" else value for name, value in headers.items()}
    response = session.submit("https://trusted.test/", user.email, PASSWORD, headers=headers)
    assert response.status_code == 303


def test_json_post_is_refused(server, session, user):
    session.form("https://trusted.test/")
    response = session.http.post(server.url("/login"), json={"email": user.email, "password": PASSWORD},
                                 allow_redirects=False, timeout=5)
    assert response.status_code == 403
    assert_login_headers(response)


# --- logout ------------------------------------------------------------------------------------------------


def test_logout_expires_the_token_and_returns(server, session, user):
    token = token_from_redirect(session.sign_in("https://trusted.test/", user.email, PASSWORD))
    assert current(server, token).status_code == 200
    response = session.logout("https://trusted.test/bye?x=1", token=token)
    assert response.status_code == 303
    assert response.headers["Location"] == "https://trusted.test/bye?x=1"
    assert_login_headers(response)
    assert current(server, token).status_code == 401


def test_logout_with_the_authorization_header_and_no_return_to(server, session):
    actor = server.actors.token("untrusted")
    response = session.http.get(server.url("/logout"), headers=actor.headers, allow_redirects=False, timeout=5)
    assert response.status_code == 200 and "Signed out" in response.text
    assert_login_headers(response)
    assert current(server, actor.token).status_code == 401


def test_logout_without_a_token_still_redirects(session):
    response = session.logout("https://a.trusted.test/")
    assert response.status_code == 303 and response.headers["Location"] == "https://a.trusted.test/"


def test_logout_with_the_root_token_changes_nothing(server, session):
    root = server.actors.token("system")
    assert session.logout(token=root.token).status_code == 200
    assert current(server, root.token).status_code == 200


# --- headers, methods, logs --------------------------------------------------------------------------------


def test_other_methods_and_oversized_bodies_keep_the_headers(server, session):
    response = requests.delete(server.url("/login"), timeout=5)
    assert response.status_code == 405
    assert_login_headers(response)
    response = requests.post(server.url("/login"), data=b"x" * (1024 * 1024 + 1024),
                             headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert response.status_code == 413
    assert_login_headers(response)


def test_no_secret_in_the_server_log(server, session, user):
    token = token_from_redirect(session.sign_in("https://trusted.test/", user.email, PASSWORD))
    session.logout("https://trusted.test/", token=token)
    session.form("https://trusted.test/")
    session.submit("https://trusted.test/", user.email, "wrong password 123")
    log = server.log_text()
    uuid, secret = split_token(token)
    assert f"token {uuid}" in log  # the log is captured: the sign-in and the logout are in it
    assert secret not in log and PASSWORD not in log and "wrong password 123" not in log
    assert session.csrf_token not in log


@pytest.mark.postgresql
def test_sign_in_and_out_on_postgresql(tmp_path, postgresql_url):
    server = LiveServer(tmp_path, database=postgresql_url, login__trusted_clients=TRUSTED).start()
    try:
        user = server.actors.user(password=PASSWORD)
        session = LoginSession(server.base_url)
        session.form("https://trusted.test/")
        assert session.submit("https://trusted.test/", user.email, "wrong password").status_code == 401
        token = token_from_redirect(session.submit("https://trusted.test/", user.email, PASSWORD))
        assert current(server, token).status_code == 200
        # The right password removed the attempt's and the account's failures.
        assert server.actors.storage.models.LoginFailure.select().count() == 1  # the address's one
        assert session.logout("https://trusted.test/", token=token).status_code == 303
        assert current(server, token).status_code == 401
    finally:
        server.stop()
