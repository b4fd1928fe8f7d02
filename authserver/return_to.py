"""`return_to`: the one check for every URL the login flow sends a browser to (SPEC §7).

The login form, the login POST and logout all call `ReturnToValidator.check`. A URL is allowed only when its
origin (from `origins.parse_origin`, which refuses userinfo, non-http(s) schemes, control characters and
backslashes) matches `login.trusted_clients`, `login.allowed_clients`, the `url_prefix` of an existing API
client, or — with `login.trust_private_networks` — a loopback or private address.

The URL a browser is then sent to is rebuilt from the canonical origin plus the path, query and fragment,
never passed through as typed: whatever a browser's parser would make of an odd input, the host it goes to
is the host that was checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from .db import Storage
from .origins import Origin, OriginError, OriginMatcher, parse_origin

# Longer URLs are refused: browsers and proxies cut them unpredictably, and nothing legitimate needs more.
MAX_RETURN_TO_LENGTH = 2048
TOKEN_PARAMETER = "api_token"
# RFC 3986's reserved characters and `%`: left as they are when a URL is made ASCII-only.
_URL_SAFE = "/?#[]@!$&'()*+,;=%:"


class ReturnToRefused(ValueError):
    """Why a `return_to` is refused; safe to show: it never echoes the URL or the allow-list."""


@dataclass(frozen=True)
class ReturnTo:
    """An allowed `return_to`: its origin and the canonical URL to send the browser to."""

    origin: Origin
    url: str

    def with_token(self, token: str) -> str:
        """The URL with `api_token=<token>` set in its query (URL-encoded, other parameters kept)."""
        parts = urlsplit(self.url)
        query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True)
                 if name != TOKEN_PARAMETER]
        query.append((TOKEN_PARAMETER, token))
        return parts._replace(query=urlencode(query)).geturl()


class ReturnToValidator:
    def __init__(self, storage: Storage, *, trusted_clients: list[str], allowed_clients: list[str],
                 trust_private_networks: bool):
        self.storage = storage
        self.trusted = OriginMatcher(trusted_clients)
        self.allowed = OriginMatcher(allowed_clients)
        self.trust_private_networks = trust_private_networks
        self._client_sql = f"SELECT 1 FROM api_clients WHERE url_prefix = {storage.param}"

    def check(self, raw: object) -> ReturnTo:
        """The allowed, canonical `return_to`, or ReturnToRefused saying why not."""
        if isinstance(raw, list):
            raise ReturnToRefused("return_to was given more than once.")
        if not isinstance(raw, str) or not raw:
            raise ReturnToRefused("return_to is missing: the application must say where to return after sign-in.")
        if len(raw) > MAX_RETURN_TO_LENGTH:
            raise ReturnToRefused(f"return_to is longer than {MAX_RETURN_TO_LENGTH} characters.")
        try:
            origin = parse_origin(raw)
        except OriginError as error:
            raise ReturnToRefused(f"return_to is not an acceptable URL: {error}.") from None
        if not self.is_allowed(origin):
            raise ReturnToRefused("return_to names an application that is not allowed to sign in here.")
        return ReturnTo(origin=origin, url=canonical_url(raw, origin))

    def is_allowed(self, origin: Origin) -> bool:
        if self.trusted.matches_origin(origin) or self.allowed.matches_origin(origin):
            return True
        if self.trust_private_networks and origin.is_private_network():
            return True
        return self.storage.execute(self._client_sql, (origin.url_prefix,)).fetchone() is not None


def canonical_url(raw: str, origin: Origin) -> str:
    """`raw` with its scheme and authority replaced by the canonical origin (default port left out).

    Path, query and fragment keep their meaning; characters outside ASCII are percent-encoded (existing
    `%XX` escapes stay), because a `Location` header carries ASCII only.
    """
    parts = urlsplit(raw)
    authority = origin.url_prefix[len(origin.scheme) + 3 : -1]
    return parts._replace(
        scheme=origin.scheme,
        netloc=authority,
        path=quote(parts.path or "/", safe=_URL_SAFE),
        query=quote(parts.query, safe=_URL_SAFE),
        fragment=quote(parts.fragment, safe=_URL_SAFE),
    ).geturl()
