"""Cross-site request forgery protection for the sign-in form (SPEC §10).

Two independent checks guard `POST /login`:

- a double-submit token: `GET /login` sets a random value in an HttpOnly, SameSite=Strict cookie and puts
  the same value in the form; the POST must carry both, equal (compared in constant time). Another site can
  make a browser send the cookie only on a same-site request, and cannot read it to fill in the field. When
  the server's own origin is https, the cookie is `__Host-` prefixed and Secure, so neither a sibling
  subdomain nor a plain-http page can plant one;
- an `Origin` header, when present, must be the server's own origin: `external_url` if configured, else the
  request's scheme and `Host`. `Origin: null` names no origin: browsers send it for every POST from a page
  whose referrer policy is `no-referrer`, which SPEC §7 makes ours. So the Fetch metadata header
  `Sec-Fetch-Site`, which browsers send whatever the referrer policy, must then say `same-origin` when present;
  and the token is required either way.

Nothing is stored on the server, so any number of server processes accept each other's forms.
"""

from __future__ import annotations

import hmac
import re
import secrets

import falcon

from .origins import Origin, OriginError, parse_origin

FIELD_NAME = "csrf_token"
COOKIE_NAME = "authserver_login_csrf"
SECURE_COOKIE_NAME = "__Host-" + COOKIE_NAME
CROSS_SITE = "The sign-in form was sent from another site."
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32): 256 bits


class CsrfGuard:
    def __init__(self, external_url: str | None):
        self.external_origin = parse_origin(external_url) if external_url else None

    def own_origin(self, req: falcon.Request) -> Origin | None:
        if self.external_origin is not None:
            return self.external_origin
        try:
            return parse_origin(f"{req.scheme}://{req.netloc}/")
        except OriginError:
            return None

    def _is_https(self, req: falcon.Request) -> bool:
        origin = self.own_origin(req)
        return origin is not None and origin.scheme == "https"

    def _cookie_name(self, req: falcon.Request) -> str:
        return SECURE_COOKIE_NAME if self._is_https(req) else COOKIE_NAME

    def _cookie_values(self, req: falcon.Request) -> list[str]:
        values = req.get_cookie_values(self._cookie_name(req)) or []
        return [value for value in values if _TOKEN_RE.match(value)]

    def issue(self, req: falcon.Request, resp: falcon.Response) -> str:
        """The token for a new form: the browser's current one if it has one (several tabs keep working)."""
        values = self._cookie_values(req)
        token = values[0] if values else secrets.token_urlsafe(32)
        resp.set_cookie(
            self._cookie_name(req), token,
            path="/", secure=self._is_https(req), http_only=True, same_site="Strict",
        )
        return token

    def refusal(self, req: falcon.Request, form_token: str | None) -> str | None:
        """Why this POST must be refused (403), or None when it comes from our own form in this browser."""
        offered_origin = req.get_header("Origin")
        if offered_origin is not None and offered_origin.strip() != "null":
            own = self.own_origin(req)
            try:
                origin = parse_origin(offered_origin)
            except OriginError:
                origin = None
            if own is None or origin != own:
                return CROSS_SITE
        fetch_site = req.get_header("Sec-Fetch-Site")
        if fetch_site is not None and fetch_site.strip().lower() != "same-origin":
            return CROSS_SITE
        if not form_token or not _TOKEN_RE.match(form_token):
            return "The sign-in form was sent without its security token. Reload the sign-in page and try again."
        if not any(hmac.compare_digest(form_token, value) for value in self._cookie_values(req)):
            return ("The sign-in form's security token does not match this browser's. Make sure cookies are "
                    "enabled for this site, reload the sign-in page and try again.")
        return None
