"""The README's web-application example works as printed, against the real server."""

import html
import re
import subprocess
import sys
import time

import pytest
import requests

from .login_session import CSRF_RE, RETURN_TO_RE
from .support import REPO, LiveServer, free_port

PASSWORD = "correct horse battery"


def readme_example() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Signing in from a web application", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def example_app(tmp_path):
    app_port = free_port()
    server = LiveServer(tmp_path, login__allowed_clients=[f"http://127.0.0.1:{app_port}"]).start()
    source = (readme_example()
              .replace("http://127.0.0.1:8000", server.base_url)
              .replace("127.0.0.1:8080", f"127.0.0.1:{app_port}")
              .replace('make_server("127.0.0.1", 8080,', f'make_server("127.0.0.1", {app_port},'))
    (tmp_path / "example_app.py").write_text(source)
    process = subprocess.Popen([sys.executable, str(tmp_path / "example_app.py")], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(f"http://127.0.0.1:{app_port}/", allow_redirects=False, timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the example app did not start"
                time.sleep(0.05)
        yield server, f"http://127.0.0.1:{app_port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        server.stop()


def test_readme_example_signs_in_and_out(example_app):
    server, app_url = example_app
    user = server.actors.user(password=PASSWORD)
    browser = requests.Session()
    form = browser.get(app_url + "/", timeout=10)  # the app redirects to the sign-in form
    assert form.url.startswith(server.url("/login?")) and form.status_code == 200
    return_to = html.unescape(RETURN_TO_RE.search(form.text).group(1))
    assert return_to == app_url + "/?page=home"
    landed = browser.post(server.url("/login"), timeout=10, data={
        "return_to": return_to, "csrf_token": CSRF_RE.search(form.text).group(1),
        "email": user.email, "password": PASSWORD,
    })
    assert landed.text.startswith(f"Hello {user.email} (page=home). Sign out: ")
    token = re.search(r"api_token=([^&]+)", landed.url).group(1)
    signed_out = browser.get(landed.text.split("Sign out: ", 1)[1].strip(), timeout=10)
    assert signed_out.url.startswith(server.url("/login?"))  # back at the sign-in form, via the app
    current = requests.get(server.url("/arvados/v1/api_client_authorizations/current"),
                           params={"api_token": requests.utils.unquote(token)}, timeout=5)
    assert current.status_code == 401
