import re
from datetime import datetime

import pytest

from authserver.ids import (format_timestamp, new_secret, new_uuid, parse_timestamp, secret_digest,
                            split_token, v2_token)


def test_uuid_shape():
    assert re.match(r"^zzzzz-gj3su-[0-9a-z]{15}$", new_uuid("zzzzz", "gj3su"))


def test_secrets_carry_at_least_256_bits_and_differ():
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    for secret in secrets:
        assert re.match(r"^[0-9a-z]{50}$", secret)  # 50 * log2(36) > 258 bits


def test_digest_is_sha256_hex():
    assert secret_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(
    "presented, expected",
    [
        ("a" * 50, (None, "a" * 50)),
        (v2_token("zzzzz-gj3su-aaaaaaaaaaaaaaa", "b" * 50), ("zzzzz-gj3su-aaaaaaaaaaaaaaa", "b" * 50)),
        ("v2/zzzzz-gj3su-aaaaaaaaaaaaaaa", None),
        ("v2/not-a-uuid/" + "b" * 50, None),
        ("v2/zzzzz-gj3su-aaaaaaaaaaaaaaa/" + "b" * 50 + "/extra", None),
        ("short", None),
        ("has space" + "a" * 30, None),
    ],
)
def test_split_token(presented, expected):
    assert split_token(presented) == expected


def test_timestamps_have_nine_fraction_digits_and_round_trip():
    moment = datetime(2026, 1, 2, 3, 4, 5, 123456)
    text = format_timestamp(moment)
    assert text == "2026-01-02T03:04:05.123456000Z"
    assert parse_timestamp(text) == moment
    assert parse_timestamp("2026-01-02T05:04:05+02:00") == datetime(2026, 1, 2, 3, 4, 5)
    assert format_timestamp(None) is None
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")
