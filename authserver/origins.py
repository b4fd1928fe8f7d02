"""Origins: the one place that decides whether a URL belongs to a configured web application.

Used for a client's effective trust (SPEC §4.2) and for every `return_to` of the login flow (SPEC §7).
An origin is (scheme, host, port) with the host lower-cased and IDNA-encoded and the port always explicit;
a pattern is an origin whose host may start with `*.` to match subdomains (never the bare domain) of the same
scheme and port.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x20\x7f\\]")

PRIVATE_NETWORKS = [
    ipaddress.ip_network(net)
    for net in (
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
    )
]


class OriginError(ValueError):
    """Why a URL or pattern is not an acceptable origin (safe to show: it never echoes an allow-list)."""


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str  # lower-case; IPv6 without brackets
    port: int

    @property
    def url_prefix(self) -> str:
        """`scheme://host[:port]/` with the default port left out: what an API client is keyed by."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if DEFAULT_PORTS.get(self.scheme) == self.port:
            return f"{self.scheme}://{host}/"
        return f"{self.scheme}://{host}:{self.port}/"

    def is_private_network(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return any(address in network for network in PRIVATE_NETWORKS)


def _canonical_host(host: str) -> str:
    host = host.lower()
    if host.startswith("[") and host.endswith("]"):
        try:
            return str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            raise OriginError("the host is not a valid address") from None
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    if host.endswith("."):
        host = host[:-1]
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise OriginError("the host is not a valid name") from None
    labels = host.split(".")
    if not host or not all(_HOST_LABEL_RE.match(label) for label in labels):
        raise OriginError("the host is not a valid name")
    return host


def parse_origin(url: str) -> Origin:
    """The origin of an absolute http(s) URL; OriginError when the URL must not be trusted at all."""
    if not isinstance(url, str) or not url:
        raise OriginError("the URL is empty")
    if _FORBIDDEN_CHARS.search(url):
        raise OriginError("the URL contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket, or characters NFKC turns into URL delimiters
        raise OriginError("the URL is malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise OriginError("only http and https URLs are allowed")
    if not url[len(parts.scheme) :].startswith("://"):
        raise OriginError("the URL must be absolute (scheme://host/...)")
    if "@" in parts.netloc:
        raise OriginError("URLs with a user name or password are not allowed")
    if not parts.hostname:
        raise OriginError("the URL has no host")
    try:
        port = parts.port
    except ValueError:
        raise OriginError("the URL has an invalid port") from None
    # urlsplit has already lower-cased the host and removed an IPv6 address's brackets.
    hostname = parts.hostname
    host = _canonical_host(f"[{hostname}]" if ":" in hostname else hostname)
    return Origin(scheme, host, port if port is not None else DEFAULT_PORTS[scheme])


@dataclass(frozen=True)
class OriginPattern:
    scheme: str
    host: str  # for a wildcard, the suffix after "*."
    port: int
    wildcard: bool

    @classmethod
    def parse(cls, text: str) -> "OriginPattern":
        if not isinstance(text, str):
            raise OriginError(f"{text!r} is not a URL")
        candidate = text.strip()
        wildcard = False
        match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)\*\.(.*)$", candidate)
        if match:
            wildcard = True
            candidate = match.group(1) + match.group(2)
        elif "*" in candidate:
            raise OriginError(f"{text!r}: a wildcard may only be a whole first label, as in https://*.example.org")
        parts = urlsplit(candidate)
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise OriginError(f"{text!r}: an origin has no path, query or fragment")
        try:
            origin = parse_origin(candidate)
        except OriginError as error:
            raise OriginError(f"{text!r}: {error}") from None
        if wildcard and (":" in origin.host or origin.host.rsplit(".", 1)[-1].isdigit()):
            # An IP address (or a name ending in a number, which browsers read as IPv4) has no subdomains.
            raise OriginError(f"{text!r}: a wildcard needs a domain name after it, not an IP address")
        if wildcard and "." not in origin.host and origin.host != "localhost":
            raise OriginError(f"{text!r}: a wildcard needs a domain name with at least two labels after it")
        return cls(origin.scheme, origin.host, origin.port, wildcard)

    def matches(self, origin: Origin) -> bool:
        if origin.scheme != self.scheme or origin.port != self.port:
            return False
        if self.wildcard:
            return origin.host.endswith("." + self.host)
        return origin.host == self.host


class OriginMatcher:
    """A list of patterns compiled once (from config); `matches(url)` is false for anything unparseable."""

    def __init__(self, patterns: list[str]):
        self.patterns = [OriginPattern.parse(pattern) for pattern in patterns]

    def matches_origin(self, origin: Origin) -> bool:
        return any(pattern.matches(origin) for pattern in self.patterns)

    def matches(self, url: str) -> bool:
        try:
            origin = parse_origin(url)
        except OriginError:
            return False
        return self.matches_origin(origin)
