"""`authserver user ...` and `authserver client ...` as real subprocesses (SPEC §8): JSON out, one-line errors,
the API's rules (admin safety, unique emails, canonical url_prefix), and trust flips seen by a live server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
import requests

from authserver.cli import main
from authserver.config import load_config
from authserver.db import Storage, open_database
from authserver.passwords import verify_password

from .support import LiveServer, write_config
from .test_cli import assert_one_line_error, authenticate

TRUSTED_CLIENTS = ["https://*.wild.example"]


def cli_for(config_path, directory):
    """The command as a real subprocess."""

    def run(*args, stdin: str | None = None):
        command = [sys.executable, "-m", "authserver.cli", args[0], args[1], "--config", str(config_path), *args[2:]]
        return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60, cwd=directory,
                              env={**os.environ, "AUTHSERVER_CONFIG": ""})

    run.config_path = config_path
    return run


@pytest.fixture
def cli(tmp_path, capsys, monkeypatch):
    """The command in this process (`cli.main`, what the console script runs): much faster than a subprocess.
    Its output and exit code are the same; `test_cli.py` and the subprocess tests here cover the process."""
    config_path = write_config(tmp_path, login__trusted_clients=TRUSTED_CLIENTS)

    def run(*args, stdin: str | None = None):
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        capsys.readouterr()
        code = main([args[0], args[1], "--config", str(config_path), *args[2:]])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    run.config_path = config_path
    return run


def ok_json(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def stored_password_hash(cli, uuid):
    config = load_config(str(cli.config_path))
    storage = Storage(open_database(config.database_url, config.base_dir))
    try:
        User = storage.models.User
        return User.get(User.uuid == uuid).password_hash
    finally:
        storage.close()


# --- users ------------------------------------------------------------------------------------------------


def test_user_list_set_password_deactivate_activate(tmp_path):
    cli = cli_for(write_config(tmp_path), tmp_path)
    alice = ok_json(cli("user", "create", "alice@example.org", "--first-name", "Alice"))
    ok_json(cli("user", "create", "bob@example.org", "--admin"))
    listing = ok_json(cli("user", "list"))
    assert listing["kind"] == "arvados#userList" and listing["items_available"] == 3  # and the system user
    assert [item["email"] for item in listing["items"]] == ["root", "alice@example.org", "bob@example.org"]

    for args in (("--password-stdin",), ()):  # stdin is no terminal: one line is read either way
        changed = cli("user", "set-password", "ALICE@example.org", *args, stdin="a good password\n")
        assert ok_json(changed)["uuid"] == alice["uuid"]
        assert "a good password" not in changed.stdout + changed.stderr
        stored = stored_password_hash(cli, alice["uuid"])
        assert stored.startswith("scrypt$") and verify_password("a good password", stored)

    token = subprocess_token(cli, "alice@example.org")
    assert authenticate(cli, token) is not None
    user = ok_json(cli("user", "deactivate", alice["uuid"]))
    assert user["is_active"] is False
    assert authenticate(cli, token) is None  # the API answers 401 to it
    assert_one_line_error(cli("token", "create", "alice@example.org"))
    assert ok_json(cli("user", "activate", "alice@example.org"))["is_active"] is True
    assert authenticate(cli, token) is not None


def subprocess_token(cli, email):
    result = cli("token", "create", email)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_user_commands_fail_in_one_line(cli):
    ok_json(cli("user", "create", "carol@example.org"))
    for args, stdin in (
        (("user", "set-password", "nobody@example.org"), "a good password\n"),
        (("user", "set-password", "carol@example.org"), "short\n"),
        (("user", "set-password", "carol@example.org"), "\n"),
        (("user", "deactivate", "nobody@example.org"), None),
        (("user", "deactivate", "root"), None),  # the system user
        (("user", "set-password", "zzzzz-tpzed-000000000000000"), "a good password\n"),
        (("user", "create", "CAROL@example.org"), None),  # unique, ignoring case
        (("user", "create", "dave@example.org", "--first-name", "bell\a"), None),  # the API's schema
        (("user", "create", "dave@example.org", "--username", "9lives"), None),
        (("user", "create", "not-an-email"), None),
    ):
        result = cli(*args, stdin=stdin)
        assert_one_line_error(result)
        if stdin and stdin.strip():
            assert stdin.strip() not in result.stderr  # a password is never echoed


def test_the_last_active_admin_stays(cli):
    ok_json(cli("user", "create", "admin1@example.org", "--admin"))
    refused = cli("user", "deactivate", "admin1@example.org")
    assert_one_line_error(refused)
    assert "last active admin" in refused.stderr
    ok_json(cli("user", "create", "admin2@example.org", "--admin"))
    assert ok_json(cli("user", "deactivate", "admin1@example.org"))["is_active"] is False
    assert_one_line_error(cli("user", "deactivate", "admin2@example.org"))


# --- clients ----------------------------------------------------------------------------------------------


def test_client_create_list_trust_untrust(cli):
    app = ok_json(cli("client", "create", "HTTPS://App.Example:443/path", "--name", "App"))
    assert app["kind"] == "arvados#apiClient" and app["url_prefix"] == "https://app.example/"
    assert app["is_trusted"] is False and app["name"] == "App"
    assert_one_line_error(cli("client", "create", "https://app.example"))  # the same origin
    assert_one_line_error(cli("client", "create", "ftp://files.example"))
    assert_one_line_error(cli("client", "create", "https://x.example", "--name", "new\nline"))

    assert ok_json(cli("client", "trust", "https://app.example"))["is_trusted"] is True  # by prefix
    assert ok_json(cli("client", "untrust", app["uuid"]))["is_trusted"] is False  # by uuid
    assert_one_line_error(cli("client", "trust", "https://nope.example"))
    assert_one_line_error(cli("client", "trust", "zzzzz-ozdt8-aaaaaaaaaaaaaaa"))

    wild = ok_json(cli("client", "create", "https://a.wild.example"))
    assert wild["is_trusted"] is True  # login.trusted_clients
    untrusted = cli("client", "untrust", "https://a.wild.example")
    assert ok_json(untrusted)["is_trusted"] is True
    assert "login.trusted_clients" in untrusted.stderr  # says why it stays trusted

    listing = ok_json(cli("client", "list"))
    assert listing["kind"] == "arvados#apiClientList"
    assert [item["url_prefix"] for item in listing["items"]] == ["https://app.example/", "https://a.wild.example/"]


def test_trust_flips_from_the_command_line_reach_a_live_server(tmp_path):
    server = LiveServer(tmp_path).start()
    try:
        cli = cli_for(server.config_path, tmp_path)
        ok_json(cli("user", "create", "erin@example.org"))
        token = cli("token", "create", "erin@example.org", "--client", "https://erin.example/")
        assert token.returncode == 0, token.stderr
        headers = {"Authorization": f"Bearer {token.stdout.strip()}"}

        def status():
            return requests.get(server.url("/arvados/v1/api_client_authorizations"), headers=headers,
                                timeout=10).status_code

        assert status() == 403  # untrusted: may not list tokens
        ok_json(cli("client", "trust", "https://erin.example/"))
        assert status() == 200
        ok_json(cli("client", "untrust", "https://erin.example/"))
        assert status() == 403
        ok_json(cli("user", "deactivate", "erin@example.org"))
        assert status() == 401
    finally:
        server.stop()
