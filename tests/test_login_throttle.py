"""Login throttling (SPEC §10): 5 failed passwords per account, 20 per address, in 15 minutes; 429 after."""

import re
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from falcon import testing

from authserver import passwords
from authserver.throttle import ACCOUNT_LIMIT, ADDRESS_LIMIT, WINDOW, account_subject, address_subject

from .login_session import CSRF_RE, LoginSession, token_from_redirect
from .support import LiveServer

RETURN_TO = "https://app.test/"
PASSWORD = "correct horse battery"
WRONG = "wrong password!"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("throttle"), login__trusted_clients=["https://app.test"]).start()
    yield server
    server.stop()


@pytest.fixture
def failures(server):
    """The shared failure table, emptied before each test (every request here comes from 127.0.0.1)."""
    LoginFailure = server.actors.storage.models.LoginFailure
    with server.actors.storage.write():
        LoginFailure.delete().execute()
    return LoginFailure


@pytest.fixture
def user(server):
    return server.actors.user(password=PASSWORD)


def age_failures(server, by: timedelta) -> None:
    """Move every recorded failure back in time, as if `by` had passed."""
    LoginFailure = server.actors.storage.models.LoginFailure
    with server.actors.storage.write():
        for row in LoginFailure.select():
            LoginFailure.update(failed_at=row.failed_at - by).where(LoginFailure.id == row.id).execute()


def sign_in(session: LoginSession, email: str, password: str) -> requests.Response:
    return session.submit(RETURN_TO, email, password)


def test_account_locked_after_five_failures_even_for_the_right_password(server, failures, user):
    session = LoginSession(server.base_url)
    session.form(RETURN_TO)
    for _ in range(ACCOUNT_LIMIT):
        assert sign_in(session, user.email, WRONG).status_code == 401
    response = sign_in(session, user.email, PASSWORD)
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= WINDOW.total_seconds()
    assert "Too many failed sign-in attempts. Try again in 15 minutes." in response.text
    assert response.headers["Cache-Control"] == "no-store"
    # Case and spaces do not make another account.
    assert sign_in(session, f"  {user.email.upper()} ", PASSWORD).status_code == 429
    # The table keys the account by a digest: the email itself is nowhere in it.
    subjects = {row.subject for row in failures.select()}
    assert account_subject(user.email) in subjects
    assert not any(user.email.lower() in subject for subject in subjects)


def test_lockout_is_temporary_and_retry_after_counts_down(server, failures, user):
    session = LoginSession(server.base_url)
    session.form(RETURN_TO)
    for _ in range(ACCOUNT_LIMIT):
        sign_in(session, user.email, WRONG)
    age_failures(server, timedelta(minutes=10))
    response = sign_in(session, user.email, PASSWORD)
    assert response.status_code == 429
    assert 295 <= int(response.headers["Retry-After"]) <= 300
    age_failures(server, timedelta(minutes=5))
    token_from_redirect(sign_in(session, user.email, PASSWORD))


def test_unknown_emails_are_throttled_alike(server, failures):
    session = LoginSession(server.base_url)
    session.form(RETURN_TO)
    statuses = [sign_in(session, "nobody@example.org", WRONG).status_code for _ in range(ACCOUNT_LIMIT + 1)]
    assert statuses == [401] * ACCOUNT_LIMIT + [429]


def test_address_locked_after_twenty_failures(server, failures, user):
    session = LoginSession(server.base_url)
    session.form(RETURN_TO)
    for number in range(ADDRESS_LIMIT):
        assert sign_in(session, f"guess{number}@example.org", WRONG).status_code == 401
    response = sign_in(session, user.email, PASSWORD)  # an account with no failures of its own
    assert response.status_code == 429
    assert failures.select().where(failures.subject == address_subject("127.0.0.1")).count() == ADDRESS_LIMIT


def test_success_clears_the_accounts_failures_but_not_the_addresss(server, failures, user):
    session = LoginSession(server.base_url)
    session.form(RETURN_TO)
    for _ in range(ACCOUNT_LIMIT - 1):
        sign_in(session, user.email, WRONG)
    token_from_redirect(sign_in(session, user.email, PASSWORD))
    assert failures.select().where(failures.subject == account_subject(user.email)).count() == 0
    assert failures.select().where(failures.subject == address_subject("127.0.0.1")).count() == ACCOUNT_LIMIT - 1
    for _ in range(ACCOUNT_LIMIT - 1):
        assert sign_in(session, user.email, WRONG).status_code == 401


def test_only_password_failures_count(server, failures, user):
    session = LoginSession(server.base_url)
    session.form(RETURN_TO)
    for _ in range(ACCOUNT_LIMIT + 1):
        assert session.submit(RETURN_TO, user.email, WRONG, csrf_token=None).status_code == 403
        assert session.submit("https://evil.test/", user.email, WRONG).status_code == 400
        assert sign_in(session, user.email, "").status_code == 401
    assert failures.select().count() == 0
    token_from_redirect(sign_in(session, user.email, PASSWORD))


def concurrent_guess_statuses(server, user, guesses: int = 12) -> list[int]:
    """`guesses` wrong passwords for `user` at once (8 at a time), with one form's CSRF cookie and token."""
    session = LoginSession(server.base_url)
    session.form(RETURN_TO)
    cookies = session.http.cookies.get_dict()
    data = {"return_to": RETURN_TO, "email": user.email, "password": WRONG, "csrf_token": session.csrf_token}

    def guess(_):
        return requests.post(server.url("/login"), data=data, cookies=cookies, allow_redirects=False,
                             timeout=20).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(guess, range(guesses)))


def test_concurrent_guesses_cannot_pass_the_limit(server, failures, user):
    assert sorted(concurrent_guess_statuses(server, user)) == [401] * ACCOUNT_LIMIT + [429] * 7


def test_two_server_processes_share_the_counts(server, failures, user):
    second = LiveServer(server.directory, login__trusted_clients=["https://app.test"]).start()
    try:
        first_session, second_session = LoginSession(server.base_url), LoginSession(second.base_url)
        first_session.form(RETURN_TO)
        second_session.form(RETURN_TO)
        for number in range(ACCOUNT_LIMIT):
            session = first_session if number % 2 else second_session
            assert sign_in(session, user.email, WRONG).status_code == 401
        assert sign_in(first_session, user.email, PASSWORD).status_code == 429
        assert sign_in(second_session, user.email, PASSWORD).status_code == 429
    finally:
        second.stop()


# --- the response does not reveal whether an email exists --------------------------------------------------


@pytest.fixture
def app_client(app):
    return testing.TestClient(app)


def post_in_process(client, email: str, password: str):
    form = client.simulate_get("/login", params={"return_to": "http://127.0.0.1:9/"})
    token = CSRF_RE.search(form.text).group(1)
    cookie = form.headers["Set-Cookie"].split(";", 1)[0]
    return client.simulate_post(
        "/login",
        body=f"return_to=http%3A%2F%2F127.0.0.1%3A9%2F&csrf_token={token}&email={email}&password={password}",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )


@pytest.fixture
def app(tmp_path):
    from authserver.app import create_app

    from .support import make_config

    app = create_app(make_config(tmp_path, login__trust_private_networks=True))
    yield app
    app.services.close()


def test_unknown_email_wrong_password_and_inactive_look_the_same(app, app_client, monkeypatch):
    from .support import Actors

    actors = Actors(app.services.config, app.services.storage)
    known = actors.user(email="known@example.org", password=PASSWORD)
    actors.user(email="inactive@example.org", password=PASSWORD)
    User = app.services.storage.models.User
    with app.services.storage.write():
        User.update(is_active=False).where(User.email_key == "inactive@example.org").execute()
    calls = []
    real_scrypt = passwords._scrypt
    monkeypatch.setattr(passwords, "_scrypt", lambda *args: calls.append(args[2:]) or real_scrypt(*args))
    passwords.verify_password("warm", None)  # the dummy hash exists before anything is measured
    bodies = {}
    for label, email, password in (("unknown", "nobody@example.org", PASSWORD), ("wrong", known.email, WRONG),
                                   ("inactive", "inactive@example.org", PASSWORD)):
        calls.clear()
        response = post_in_process(app_client, email, password)
        assert response.status_code == 401
        # One scrypt at full cost in every case: the same work whether or not the account exists.
        assert calls == [(passwords.SCRYPT_N, passwords.SCRYPT_R, passwords.SCRYPT_P)]
        bodies[label] = re.sub(r'value="[^"]*"', 'value=""', response.text)
        assert response.headers.get("Retry-After") is None
    assert bodies["unknown"] == bodies["wrong"] == bodies["inactive"]


def test_unknown_email_takes_as_long_as_a_wrong_password(app, app_client):
    from .support import Actors

    Actors(app.services.config, app.services.storage).user(email="timed@example.org", password=PASSWORD)
    post_in_process(app_client, "warm-up@example.org", WRONG)  # first-call costs out of the way
    timings = {"unknown": [], "wrong": []}
    for round_number in range(4):
        for label, email in (("unknown", f"nobody{round_number}@example.org"), ("wrong", "timed@example.org")):
            started = time.perf_counter()
            assert post_in_process(app_client, email, WRONG).status_code == 401
            timings[label].append(time.perf_counter() - started)
    unknown, wrong = statistics.median(timings["unknown"]), statistics.median(timings["wrong"])
    # Both are dominated by one scrypt (~50 ms); a skipped hash would make one side several times faster.
    assert 0.6 < unknown / wrong < 1.6, timings


@pytest.mark.postgresql
def test_concurrent_guesses_cannot_pass_the_limit_on_postgresql(tmp_path, postgresql_url):
    """READ COMMITTED would let concurrent reservations all count before any inserts: the lock prevents it."""
    server = LiveServer(tmp_path, database=postgresql_url, login__trusted_clients=["https://app.test"]).start()
    try:
        user = server.actors.user(password=PASSWORD)
        assert sorted(concurrent_guess_statuses(server, user)) == [401] * ACCOUNT_LIMIT + [429] * 7
    finally:
        server.stop()
