"""The one return_to validator (SPEC §7): what it refuses, what it canonicalises, how the token is set."""

from urllib.parse import parse_qsl, urlsplit

import pytest

from authserver.clients import ClientService
from authserver.return_to import MAX_RETURN_TO_LENGTH, ReturnToRefused, ReturnToValidator

TRUSTED = ["https://trusted.test", "https://*.trusted.test"]
ALLOWED = ["http://allowed.test:8080"]

# Each of these must be refused whatever else is configured (the HTTP tests run the same table end to end).
REFUSED = {
    "foreign host": "https://evil.test/",
    "userinfo before a foreign host": "https://trusted.test@evil.test/",
    "userinfo naming a foreign host": "https://evil.test@trusted.test/",
    "user and password": "https://user:pass@trusted.test/",
    "port in userinfo": "https://trusted.test:443@evil.test/",
    "scheme downgrade": "http://trusted.test/",
    "wrong port": "https://trusted.test:8443/",
    "extra port": "https://trusted.test:443:443/",
    "port zero": "https://trusted.test:0/",
    "port out of range": "https://trusted.test:70000/",
    "javascript": "javascript:alert(document.cookie)//https://trusted.test/",
    "javascript upper-case": "JavaScript:alert(1)",
    "data": "data:text/html,<script>alert(1)</script>https://trusted.test/",
    "ftp": "ftp://trusted.test/",
    "scheme-relative foreign": "//evil.test/",
    "scheme-relative trusted": "//trusted.test/",
    "slash backslash": "/\\evil.test/",
    "scheme slash backslash": "https:/\\evil.test/",
    "backslash before @": "https://trusted.test\\@evil.test/",
    "no slashes": "https:trusted.test/",
    "relative path": "/dashboard",
    "look-alike suffix": "https://trusted.test.evil.test/",
    "look-alike deep suffix": "https://a.trusted.test.evil.test/",
    "look-alike prefix": "https://eviltrusted.test/",
    "wildcard does not cover other ports": "https://a.trusted.test:444/",
    "ideographic full stop": "https://trusted.test\u3002evil.test/",
    "percent-encoded dot in host": "https://trusted.test%2eevil.test/",
    "CR LF in path": "https://trusted.test/\r\nSet-Cookie: x=1",
    "LF in query": "https://trusted.test/?a=\nb",
    "CR in fragment": "https://trusted.test/#a\rb",
    "NUL in host": "https://trusted.test\x00.evil.test/",
    "NUL in path": "https://trusted.test/\x00",
    "tab in host": "https://trusted\t.test/",
    "leading space": " https://trusted.test/",
    "allowed host only in the path": "https://evil.test/https://trusted.test/",
    "allowed host only in the query": "https://evil.test/?next=https://trusted.test/",
    "allowed host only in the fragment": "https://evil.test/#https://trusted.test/",
    "unclosed IPv6 bracket": "http://[::1/",
    "loopback without trust_private_networks": "http://127.0.0.1:9000/",
    "IPv6 loopback without trust_private_networks": "http://[::1]:9000/",
    "localhost without trust_private_networks": "http://localhost:9000/",
    "empty": "",
}


def validator(storage, *, private: bool = False) -> ReturnToValidator:
    return ReturnToValidator(storage, trusted_clients=TRUSTED, allowed_clients=ALLOWED,
                             trust_private_networks=private)


@pytest.mark.parametrize("url", REFUSED.values(), ids=REFUSED.keys())
def test_refused(storage, url):
    with pytest.raises(ReturnToRefused) as refused:
        validator(storage).check(url)
    message = str(refused.value)
    # The reason never echoes the allow-list (nor the URL).
    assert "trusted.test" not in message and "allowed.test" not in message


def test_refusals_say_why(storage):
    check = validator(storage).check
    with pytest.raises(ReturnToRefused, match="missing"):
        check(None)
    with pytest.raises(ReturnToRefused, match="more than once"):
        check(["https://trusted.test/", "https://trusted.test/"])
    with pytest.raises(ReturnToRefused, match="user name or password"):
        check("https://trusted.test@evil.test/")
    with pytest.raises(ReturnToRefused, match="not allowed to sign in here"):
        check("https://evil.test/")
    with pytest.raises(ReturnToRefused, match="longer than"):
        check("https://trusted.test/" + "a" * MAX_RETURN_TO_LENGTH)


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("https://trusted.test/app?x=1#top", "https://trusted.test/app?x=1#top"),
        ("HTTPS://TRUSTED.TEST/Path/Keeps/Case", "https://trusted.test/Path/Keeps/Case"),
        ("https://Trusted.Test./", "https://trusted.test/"),
        ("https://trusted.test:443", "https://trusted.test/"),
        ("https://a.b.trusted.test/x", "https://a.b.trusted.test/x"),
        ("http://allowed.test:8080/cb", "http://allowed.test:8080/cb"),
        ("https://trusted.test//evil.test/", "https://trusted.test//evil.test/"),
        ("https://trusted.test/caf\u00e9?q=\u00e9", "https://trusted.test/caf%C3%A9?q=%C3%A9"),
        ("https://trusted.test/a%2Fb?x=%41", "https://trusted.test/a%2Fb?x=%41"),
    ],
)
def test_allowed_urls_are_canonical(storage, given, canonical):
    target = validator(storage).check(given)
    assert target.url == canonical
    assert target.url.isascii()


def test_private_networks_only_when_configured(storage):
    for url in ("http://127.0.0.1:9000/", "http://[::1]:9000/", "http://localhost:9000/", "http://10.1.2.3/",
                "http://192.168.0.7:81/", "http://172.16.0.1/", "http://169.254.1.1/", "http://[fd00::1]/"):
        assert validator(storage, private=True).check(url).origin.is_private_network()
        with pytest.raises(ReturnToRefused):
            validator(storage).check(url)
    for url in ("http://172.32.0.1/", "http://8.8.8.8/", "http://127.0.0.1.evil.test/"):
        with pytest.raises(ReturnToRefused):
            validator(storage, private=True).check(url)


def test_existing_api_client_is_allowed(storage, tmp_path):
    url = "https://registered.test:9443/home"
    with pytest.raises(ReturnToRefused):
        validator(storage).check(url)
    with storage.write():
        ClientService(storage, "zzzzz").find_or_create("https://registered.test:9443/")
    assert validator(storage).check(url).origin.url_prefix == "https://registered.test:9443/"
    # Only that origin: not its other ports or schemes.
    with pytest.raises(ReturnToRefused):
        validator(storage).check("http://registered.test:9443/home")


def test_token_is_set_in_the_query_by_a_url_builder(storage):
    target = validator(storage).check("https://trusted.test/cb?x=1&api_token=planted&y=a+b&empty=#frag")
    url = target.with_token("v2/zzzzz-gj3su-abcdefghijklmno/secret&x=2")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == ("https", "trusted.test", "/cb", "frag")
    assert parse_qsl(parts.query, keep_blank_values=True) == [
        ("x", "1"), ("y", "a b"), ("empty", ""), ("api_token", "v2/zzzzz-gj3su-abcdefghijklmno/secret&x=2"),
    ]
