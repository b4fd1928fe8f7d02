"""The one origin matcher (`authserver/origins.py`): client trust (SPEC §4.2) and login's return_to (SPEC §7)."""

from __future__ import annotations

import pytest

from authserver.authn import TrustResolver
from authserver.origins import Origin, OriginError, OriginMatcher, OriginPattern, parse_origin

# (trusted key, candidate URL, matches?) — the table first, then the edges around it.
MATCHES = [
    ("https://ok.example", "https://ok.example:443/", True),
    ("https://ok.example", "https://ok.example/foo?bar#baz", True),
    ("https://ok.example", "http://ok.example", False),
    ("https://*.wild.example", "https://a.b.wild.example", True),
    ("https://*.wild.example", "https://a.wild.example.attacker.example/", False),
    ("https://*.wild.example", "https://attacker.example/?https://ok.wild.example/", False),
    ("https://*.wild.example", "http://x.wild.example", False),
    ("https://*.wild.example", "https://x.wild.example:80", False),
    # exact keys: case, default ports, trailing slash and dot, IDNA, IPv6
    ("https://ok.example", "HTTPS://OK.Example/", True),
    ("https://OK.example:443/", "https://ok.example", True),
    ("http://ok.example:80", "http://ok.example/", True),
    ("https://ok.example", "https://ok.example./", True),
    ("https://ok.example", "https://ok.example:/", True),
    ("https://ok.example", "https://ok.example:8443/", False),
    ("https://ok.example:8443", "https://ok.example:8443/app", True),
    ("https://ok.example:8443", "https://ok.example/", False),
    ("https://ok.example", "https://sub.ok.example/", False),
    ("https://ok.example", "https://ok.example.attacker.example/", False),
    ("https://ok.example", "https://attacker.example/https://ok.example/", False),
    ("https://ok.example", "https://notok.example/", False),
    ("https://bücher.example", "https://xn--bcher-kva.example/", True),
    ("https://xn--bcher-kva.example", "https://BÜCHER.example/", True),
    ("http://[::1]:8080", "http://[0:0::1]:8080/x", True),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000/", True),
    ("http://127.0.0.1:8000", "http://127.0.0.2:8000/", False),
    # wildcards: subdomains only, same scheme and port
    ("https://*.wild.example", "https://wild.example/", False),
    ("https://*.wild.example", "https://x.wild.example/", True),
    ("https://*.wild.example", "https://X.WILD.EXAMPLE:443/path", True),
    ("https://*.wild.example", "https://evilwild.example/", False),
    ("https://*.wild.example", "https://x-wild.example/", False),
    ("https://*.wild.example", "https://x.wild.example.", True),
    ("https://*.wild.example", "https://x.wild.example:8443/", False),
    ("https://*.wild.example:8443", "https://x.wild.example:8443/", True),
    ("https://*.wild.example:8443", "https://x.wild.example/", False),
    ("http://*.wild.example", "https://x.wild.example/", False),
    ("HTTPS://*.WILD.example", "https://a.wild.EXAMPLE", True),
    # tricks: userinfo, fragments, encoded or odd characters, other schemes — never a match
    ("https://ok.example", "https://ok.example@attacker.example/", False),
    ("https://ok.example", "https://user:pw@ok.example/", False),
    ("https://ok.example", "https://attacker.example#@ok.example", False),
    ("https://ok.example", "https://attacker.example\\@ok.example", False),
    ("https://ok.example", "https://ok.example\t/", False),
    ("https://ok.example", "https://ok.example%00.attacker.example/", False),
    ("https://*.wild.example", "https://a.wild.example%2f.attacker.example/", False),
    ("https://*.wild.example", "https://*.wild.example/", False),
    ("https://*.wild.example", "https://a_b.wild.example/", False),
    ("https://*.wild.example", "https://.wild.example/", False),
    ("https://ok.example", "https://[ok.example]/", False),
    ("https://ok.example", "https://ok.example:99999/", False),
    ("https://ok.example", "https://ok.example:443:443/", False),
    ("https://ok.example", "//ok.example/", False),
    ("https://ok.example", "https:ok.example", False),
    ("https://ok.example", "javascript://ok.example/%0aalert(1)", False),
    ("https://ok.example", "ftp://ok.example/", False),
    ("https://ok.example", "", False),
    ("https://ok.example", "https://[::1/", False),
]


@pytest.mark.parametrize("key, candidate, expected", MATCHES)
def test_origin_matching(key, candidate, expected):
    assert OriginMatcher([key]).matches(candidate) is expected


INVALID_KEYS = [
    "https://*-wild.example",  # the example: a wildcard must be a whole first label
    "https://*",
    "https://*.",
    "https://*.example",  # one label after the wildcard: a whole top-level domain
    "https://*.*.example",
    "https://ok.*.example",
    "https://x*.example",
    "*.ok.example",
    "https://*.1.2.3.4",  # no wildcard over an IP address
    "https://*.[::1]",
    "https://ok.example/app",  # an origin, nothing more
    "https://ok.example/?x=1",
    "https://user@ok.example",
    "ftp://ok.example",
    "ok.example",
    "https://ok.example:99999",
    "https://",
    "",
]


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_are_refused(key):
    with pytest.raises(OriginError):
        OriginPattern.parse(key)
    with pytest.raises(OriginError):
        OriginMatcher(["https://ok.example", key])


def test_valid_keys_parse_to_canonical_patterns():
    assert OriginPattern.parse(" HTTPS://*.Wild.Example:443/ ") == OriginPattern("https", "wild.example", 443, True)
    assert OriginPattern.parse("http://localhost:8000") == OriginPattern("http", "localhost", 8000, False)
    assert OriginPattern.parse("https://*.localhost").wildcard


def test_parse_origin_canonical_form():
    assert parse_origin("HTTPS://Ok.Example:443/a?b#c") == Origin("https", "ok.example", 443)
    assert parse_origin("http://ok.example:8080").url_prefix == "http://ok.example:8080/"
    assert parse_origin("https://ok.example:443/x").url_prefix == "https://ok.example/"
    assert parse_origin("http://[::1]:8000/").url_prefix == "http://[::1]:8000/"
    assert parse_origin("https://bücher.example/").host == "xn--bcher-kva.example"


@pytest.mark.parametrize("url", [
    "ssh://root@localhost/", "https://u@ok.example/", "https://ok.example:x/", None, 42, "https://ok example/",
])
def test_parse_origin_refuses(url):
    with pytest.raises(OriginError):
        parse_origin(url)


def test_private_networks():
    private = ["http://localhost/", "http://127.0.0.1/", "http://10.1.2.3/", "http://172.16.0.1/",
               "http://192.168.1.1/", "http://169.254.1.1/", "http://[::1]/", "http://[fd00::1]/", "http://[fe80::1]/"]
    public = ["http://8.8.8.8/", "http://172.32.0.1/", "http://[2001:db8::1]/", "http://example.org/",
              "http://localhost.attacker.example/", "http://127.0.0.1.nip.io/"]
    assert all(parse_origin(url).is_private_network() for url in private)
    assert not any(parse_origin(url).is_private_network() for url in public)


def test_matcher_with_several_keys_and_none():
    matcher = OriginMatcher(["https://a.example", "https://*.b.example"])
    assert matcher.matches("https://a.example/") and matcher.matches("https://x.b.example/")
    assert not matcher.matches("https://b.example/")
    assert not OriginMatcher([]).matches("https://a.example/")


def test_trust_resolver_is_the_flag_or_the_config():
    trust = TrustResolver(["https://*.wild.example"])
    assert trust.is_trusted(True, "https://anything.example/")
    assert trust.is_trusted(False, "https://x.wild.example/")
    assert not trust.is_trusted(False, "https://wild.example/")
    assert not trust.is_trusted(False, "ssh://root@localhost/")  # stored prefixes that are not origins
    assert not trust.is_trusted(False, None)
