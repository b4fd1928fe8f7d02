"""A scripted browser for the login tests: a cookie jar, the form's CSRF token, no redirects followed."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import requests

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')
RETURN_TO_RE = re.compile(r'name="return_to" value="([^"]*)"')


class LoginSession:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = requests.Session()
        self.csrf_token: str | None = None

    def form(self, return_to: str | None, **kwargs) -> requests.Response:
        params = {} if return_to is None else {"return_to": return_to}
        response = self.http.get(self.base_url + "/login", params=params, allow_redirects=False, timeout=10,
                                 **kwargs)
        match = CSRF_RE.search(response.text)
        if match:
            self.csrf_token = html.unescape(match.group(1))
        return response

    def submit(self, return_to: str, email: str, password: str, *, csrf_token: str | None = "from form",
               headers: dict | None = None) -> requests.Response:
        data = {"return_to": return_to, "email": email, "password": password}
        token = self.csrf_token if csrf_token == "from form" else csrf_token
        if token is not None:
            data["csrf_token"] = token
        return self.http.post(self.base_url + "/login", data=data, headers=headers or {}, allow_redirects=False,
                              timeout=10)

    def sign_in(self, return_to: str, email: str, password: str) -> requests.Response:
        """The whole flow: load the form (for the CSRF cookie and token), then post it."""
        form = self.form(return_to)
        assert form.status_code == 200, form.text
        return self.submit(return_to, email, password)

    def logout(self, return_to: str | None = None, token: str | None = None) -> requests.Response:
        params = {}
        if return_to is not None:
            params["return_to"] = return_to
        if token is not None:
            params["api_token"] = token
        return self.http.get(self.base_url + "/logout", params=params, allow_redirects=False, timeout=10)


def form_return_to(response: requests.Response) -> str:
    return html.unescape(RETURN_TO_RE.search(response.text).group(1))


def token_from_redirect(response: requests.Response) -> str:
    assert response.status_code == 303, (response.status_code, response.text[:500])
    tokens = parse_qs(urlsplit(response.headers["Location"]).query)["api_token"]
    assert len(tokens) == 1
    return tokens[0]
