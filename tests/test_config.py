"""Configuration (SPEC §8): defaults, validation with one-line messages naming the key, sources."""

from pathlib import Path

import pytest

from authserver.config import ConfigError, build_config, load_config
from authserver.durations import parse_duration


def test_defaults_for_every_key():
    config = build_config({}, Path("/srv"), "defaults")
    assert config.cluster_id == "zzzzz"
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 8000)
    assert config.database_url == "sqlite:///authserver.db"
    assert config.policy_path.name == "default.yaml"
    assert config.max_items_per_response == 1000
    assert config.max_body_bytes == 1048576
    assert config.max_token_lifetime is None
    assert config.login_token_lifetime == 14 * 86400
    assert config.trusted_clients == [] and config.allowed_clients == []
    assert config.system_root_token is None and config.external_url is None


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("login:\n  trusted_clientz: []\n", "config.yaml:2:3: unknown key login.trusted_clientz"),
        ("tokens:\n  max_lifetime: forever\n", "config.yaml:2:17: tokens.max_lifetime: 'forever' is not a duration"),
        ("cluster_id: ABCDE\n", "config.yaml:1:13: cluster_id:"),
        ("listen:\n  port: http\n", "config.yaml:2:9: listen.port: 'http' is not of type 'integer'"),
        ("colour: blue\n", "unknown key colour"),
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("- just\n- a list\n", "must be a mapping"),
        ("api:\n  max_body_bytes: 10\n", "api.max_body_bytes"),
        ('cluster_id: "zzzzz\\n"\n', "cluster_id:"),  # `$` means the end of the string, not before a newline
        ("trusted_proxies: [not-a-network]\n", "trusted_proxies[0]: 'not-a-network' is not an address"),
        ("login:\n  trusted_clients: ['https://*-x.example']\n", "login.trusted_clients[0]"),
    ],
)
def test_bad_files_fail_with_one_line_naming_file_line_and_key(tmp_path, text, fragment):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(str(path))
    message = str(error.value)
    assert "\n" not in message
    assert fragment in message.replace(str(tmp_path) + "/", "")


def test_source_order_flag_then_environment_then_cwd(tmp_path, monkeypatch):
    (tmp_path / "flag.yaml").write_text("cluster_id: aaaaa\n")
    (tmp_path / "env.yaml").write_text("cluster_id: bbbbb\n")
    (tmp_path / "config.yaml").write_text("cluster_id: ccccc\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTHSERVER_CONFIG", str(tmp_path / "env.yaml"))
    assert load_config(str(tmp_path / "flag.yaml")).cluster_id == "aaaaa"
    assert load_config(None).cluster_id == "bbbbb"
    monkeypatch.delenv("AUTHSERVER_CONFIG")
    assert load_config(None).cluster_id == "ccccc"
    (tmp_path / "config.yaml").unlink()
    assert load_config(None).cluster_id == "zzzzz"


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    path = tmp_path / "etc" / "config.yaml"
    path.parent.mkdir()
    path.write_text("policy: policies/mine.yaml\n")
    assert load_config(str(path)).policy_path == tmp_path / "etc" / "policies" / "mine.yaml"


@pytest.mark.parametrize("value, seconds", [(0, None), ("0", None), (90, 90), ("90s", 90), ("30m", 1800),
                                            ("12h", 43200), ("7d", 604800), ("15", 15)])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["-1", "1w", "1.5h", "", True, 1.5, "h", 10**12])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_the_example_config_is_valid_and_documents_every_key(tmp_path):
    from authserver.config import DEFAULTS

    example = Path(__file__).resolve().parent.parent / "config.example.yaml"
    config = load_config(str(example))
    text = example.read_text()

    def keys(mapping, prefix=""):
        for key, value in mapping.items():
            if isinstance(value, dict):
                yield from keys(value, prefix + key + ".")
            else:
                yield prefix + key

    for dotted in keys(DEFAULTS):
        assert dotted.split(".")[-1] + ":" in text, f"config.example.yaml does not document {dotted}"
    assert config.cluster_id == "zzzzz"


def test_policy_ids_follow_the_same_strict_patterns(tmp_path):
    from authserver.policy import PolicyError, load_policy
    from authserver.routes import build_route_table

    policy = tmp_path / "p.yaml"
    policy.write_text('description: d\nrules:\n  - id: "trailing-newline\\n"\n    description: x\n    effect: allow\n'
                      '    methods: [api_client_authorizations.current]\n    classes: "*"\n')
    with pytest.raises(PolicyError) as error:
        load_policy(policy, build_route_table().method_targets())
    assert "p.yaml:3:" in error.value.problems[0]
