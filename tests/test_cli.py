"""The `authserver` command (SPEC §8), run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from authserver.authn import Authenticator, TrustResolver
from authserver.db import Storage, open_database
from authserver.ids import utcnow

from .support import write_config


@pytest.fixture
def cli(tmp_path):
    config_path = write_config(tmp_path)

    def run(*args, stdin: str | None = None, config: bool = True):
        command = [sys.executable, "-m", "authserver.cli", *args]
        if config:
            command[3:3] = ["--config", str(config_path)]
        return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                              env={**os.environ, "AUTHSERVER_CONFIG": ""})

    run.config_path = config_path
    run.directory = tmp_path
    return run


def authenticate(cli, token):
    from authserver.config import load_config

    config = load_config(str(cli.config_path))
    storage = Storage(open_database(config.database_url, config.base_dir))
    try:
        return Authenticator(storage, config.cluster_id, None, TrustResolver(config.trusted_clients)).authenticate(token)
    finally:
        storage.close()


def assert_one_line_error(result):
    assert result.returncode != 0
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_is_safe_to_run_twice(cli):
    first, second = cli("db", "upgrade"), cli("db", "upgrade")
    assert first.returncode == 0 and "applied" in first.stdout
    assert second.returncode == 0 and "nothing to do" in second.stdout


def test_user_create_prints_the_api_object_and_reads_one_password_line(cli):
    result = cli("user", "create", "Alice@Example.org", "--admin", "--password-stdin", stdin="correct horse\n")
    assert result.returncode == 0, result.stderr
    user = json.loads(result.stdout)
    assert user["kind"] == "arvados#user" and user["email"] == "Alice@Example.org" and user["is_admin"] is True
    assert "password" not in result.stdout
    from authserver.config import load_config
    from authserver.passwords import verify_password

    config = load_config(str(cli.config_path))
    storage = Storage(open_database(config.database_url, config.base_dir))
    stored = storage.models.User.get(storage.models.User.uuid == user["uuid"]).password_hash
    assert verify_password("correct horse", stored)  # the newline was stripped
    storage.close()
    assert_one_line_error(cli("user", "create", "alice@example.org"))  # unique, case-insensitive
    assert_one_line_error(cli("user", "create", "bob@example.org", "--password-stdin", stdin="short\n"))


def test_token_create_prints_a_working_trusted_v2_token_alone(cli):
    cli("user", "create", "carol@example.org")
    result = cli("token", "create", "carol@example.org", "--scopes", '["GET /arvados/v1/users/current"]',
                 "--expires-in", "2h")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and token.startswith("v2/zzzzz-gj3su-")
    identity = authenticate(cli, token)
    assert identity.token_class == "trusted"
    assert identity.scopes == ("GET /arvados/v1/users/current",)
    assert timedelta(minutes=119) < identity.expires_at - utcnow() <= timedelta(hours=2)


def test_token_create_for_another_client_is_untrusted(cli):
    cli("user", "create", "dave@example.org")
    token = cli("token", "create", "dave@example.org", "--client", "HTTPS://App.Example.org:443/page").stdout.strip()
    identity = authenticate(cli, token)
    assert identity.token_class == "untrusted"
    # the same client a browser login to that origin would use: the canonical prefix
    from authserver.config import load_config

    config = load_config(str(cli.config_path))
    storage = Storage(open_database(config.database_url, config.base_dir))
    try:
        client = storage.models.ApiClient.get_by_id(identity.api_client_id)
        assert client.url_prefix == "https://app.example.org/"
    finally:
        storage.close()


@pytest.mark.parametrize(
    "args",
    [
        ("token", "create", "nobody@example.org"),
        ("token", "create", "erin@example.org", "--scopes", "all"),
        ("token", "create", "erin@example.org", "--scopes", '["FETCH /x"]'),
        ("token", "create", "erin@example.org", "--expires-in", "soon"),
        ("token", "create", "erin@example.org", "--client", "ftp://files.example.org/"),
        ("client", "create", "javascript:alert(1)"),
        ("user", "create", "not-an-email"),
        ("user", "frobnicate"),
        ("serve", "--port", "eighty"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(cli, args):
    cli("user", "create", "erin@example.org")
    assert_one_line_error(cli(*args))


def test_client_create_prints_the_client(cli):
    result = cli("client", "create", "HTTPS://Workbench.Example.org:443/some/page", "--trusted", "--name", "Workbench")
    assert result.returncode == 0, result.stderr
    client = json.loads(result.stdout)
    assert client["url_prefix"] == "https://workbench.example.org/"
    assert client["is_trusted"] is True and client["name"] == "Workbench"
    assert_one_line_error(cli("client", "create", "https://workbench.example.org/"))


def test_invalid_config_is_one_line(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen:\n  prot: 1\n")
    result = cli("--config", str(bad), "db", "upgrade", config=False)
    assert_one_line_error(result)
    assert "unknown key listen.prot" in result.stderr


def test_init_makes_a_first_admin_once(cli):
    first = cli("init", "--email", "admin@example.org")
    assert first.returncode == 0, first.stderr
    assert "admin@example.org" in first.stdout and "password:" in first.stdout
    token = next(line.split()[-1] for line in first.stdout.splitlines() if line.strip().startswith("token:"))
    identity = authenticate(cli, token)
    assert identity.is_admin and identity.token_class == "trusted"
    second = cli("init", "--email", "admin@example.org")
    assert second.returncode == 0 and "password:" not in second.stdout


def test_every_command_takes_config_after_the_subcommand(cli):
    result = subprocess.run([sys.executable, "-m", "authserver.cli", "db", "upgrade", "--config", str(cli.config_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
