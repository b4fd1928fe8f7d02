"""CSRF behind https: the cookie is __Host- and Secure, and the Origin must be external_url (SPEC §10)."""

import pytest
from falcon import testing

from authserver.app import create_app

from .login_session import CSRF_RE
from .support import Actors, make_config

PASSWORD = "correct horse battery"


@pytest.fixture
def https_app(tmp_path):
    app = create_app(make_config(tmp_path, external_url="https://auth.example.org/",
                                 login__trusted_clients=["https://app.example.org"]))
    yield app
    app.services.close()


def post(client, cookie: str, token: str, email: str, origin: str):
    return client.simulate_post(
        "/login",
        body=f"return_to=https%3A%2F%2Fapp.example.org%2F&csrf_token={token}&email={email}&password={PASSWORD}",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie, "Origin": origin},
    )


def test_https_server_uses_a_host_prefixed_secure_cookie_and_its_external_origin(https_app):
    user = Actors(https_app.services.config, https_app.services.storage).user(password=PASSWORD)
    client = testing.TestClient(https_app)
    form = client.simulate_get("/login", params={"return_to": "https://app.example.org/"})
    set_cookie = form.headers["Set-Cookie"]
    assert set_cookie.startswith("__Host-authserver_login_csrf=")
    assert "Secure" in set_cookie and "Path=/" in set_cookie and "Domain" not in set_cookie
    cookie = set_cookie.split(";", 1)[0]
    token = CSRF_RE.search(form.text).group(1)
    # The request's own Host is not the server's origin when external_url says otherwise.
    assert post(client, cookie, token, user.email, "http://falconframework.org").status_code == 403
    assert post(client, cookie, token, user.email, "https://auth.example.org").status_code == 303
    # A cookie without the prefix (as a sibling subdomain or plain-http page could plant) is not read.
    planted = "authserver_login_csrf=" + token
    assert post(client, planted, token, user.email, "https://auth.example.org").status_code == 403
