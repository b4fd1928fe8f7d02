"""The HTML of the login flow, and the headers every login and logout response carries (SPEC §7).

Templates are `string.Template` files in `authserver/templates/`. Every value is HTML-escaped unless it is
an `Html` fragment rendered from another template, so no caller can forget to escape. The style sheet is
inlined and allowed by its hash in the Content-Security-Policy: the pages load nothing and run no script.
"""

from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template

import falcon

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
LOGIN_PATHS = ("/login", "/logout")
HTML_TYPE = "text/html; charset=utf-8"


class Html(str):
    """Markup that is already safe: a rendered template."""


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATE_DIR / name).read_text(encoding="utf-8"))


@cache
def _style() -> str:
    return (TEMPLATE_DIR / "login.css").read_text(encoding="utf-8")


def render(name: str, **values: object) -> Html:
    escaped = {key: value if isinstance(value, Html) else html.escape(str(value), quote=True)
               for key, value in values.items()}
    return Html(_template(name).substitute(escaped))


def content_security_policy(form_target: str | None = None) -> str:
    """No scripts, frames, images or plugins; only the inlined style; forms post here only.

    `form_target` is the origin a successful sign-in redirects to: browsers apply `form-action` to the
    redirect that answers a form, so the application's origin must be listed too.
    """
    style_hash = base64.b64encode(hashlib.sha256(_style().encode("utf-8")).digest()).decode("ascii")
    form_action = "'self' " + form_target if form_target else "'none'"
    return (
        f"default-src 'none'; style-src 'sha256-{style_hash}'; form-action {form_action}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


class LoginHeadersMiddleware:
    """Every response on /login and /logout, errors included, carries the headers of SPEC §7."""

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        if req.path.rstrip("/") not in LOGIN_PATHS:
            return
        resp.set_headers(SECURITY_HEADERS)
        if resp.get_header("Content-Security-Policy") is None:
            resp.set_header("Content-Security-Policy", content_security_policy())


@dataclass(frozen=True)
class Application:
    """What the sign-in page says about the application being signed in to."""

    name: str
    origin: str  # scheme://host[:port], for display and for the form-action of the page
    is_trusted: bool

    @property
    def form_action_source(self) -> str:
        """`origin` as a CSP source; CSP cannot name an IPv6 address, so those get their scheme alone."""
        scheme, _, authority = self.origin.partition("://")
        return f"{scheme}:" if authority.startswith("[") else self.origin


class LoginPages:
    def _send(self, resp: falcon.Response, status: str, title: str, content: Html) -> None:
        resp.status = status
        resp.content_type = HTML_TYPE
        resp.text = render("page.html", title=title, style=Html(_style()), content=content)

    def login_form(self, resp: falcon.Response, status: str, *, application: Application, return_to: str,
                   csrf_token: str, email: str = "", alert: str | None = None) -> None:
        if application.is_trusted:
            trust = ("trusted", "Trusted application",
                     "This application is trusted: it gets full access to your account.")
        else:
            trust = ("untrusted", "Untrusted application",
                     "This application is not trusted: it gets limited access to your account.")
        content = render(
            "login_form.html",
            application_name=application.name,
            trust_class=trust[0],
            trust_label=trust[1],
            trust_explanation=trust[2],
            alert=render("alert.html", message=alert) if alert else Html(""),
            described_by=Html(' aria-describedby="form-alert"') if alert else Html(""),
            return_to=return_to,
            csrf_token=csrf_token,
            email=email,
            origin=application.origin,
        )
        self._send(resp, status, f"Sign in to {application.name}", content)
        resp.set_header("Content-Security-Policy", content_security_policy(application.form_action_source))

    def refusal(self, resp: falcon.Response, status: str, heading: str, message: str) -> None:
        content = render("message.html", heading=heading, message=message, message_class="error",
                         role=Html(' role="alert"'))
        self._send(resp, status, heading, content)

    def signed_out(self, resp: falcon.Response) -> None:
        content = render("message.html", heading="Signed out",
                         message="You are signed out. You can close this page.",
                         message_class="hint", role=Html(""))
        self._send(resp, falcon.HTTP_200, "Signed out", content)
