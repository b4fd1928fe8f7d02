"""Test helpers shared by the whole suite: configs, actors of every token class, a live server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests
import yaml

from authserver.clients import ClientService
from authserver.config import Config, build_config
from authserver.db import Storage, open_database
from authserver.ids import USER_TYPE, fixed_uuid, v2_token
from authserver.tokens import TokenService
from authserver.users import UserService

ROOT_TOKEN = "systemroottoken" + "0123456789abcdefghijklmnopqrstuvwxyz"
# For the log-hygiene check at the end of the run (conftest.py): every password the tests set, and every
# live server's log file.
KNOWN_PASSWORDS: set[str] = set()
SERVER_LOGS: list[Path] = []
REPO = Path(__file__).resolve().parent.parent
TOKEN_CLASSES = ("system", "trusted", "untrusted", "api_created")


def make_config(directory: Path, **raw) -> Config:
    """A config for tests: a real SQLite file in `directory`, the root token set; `raw` overrides keys."""
    data = {"database": "sqlite:///authserver.db", "system_root_token": ROOT_TOKEN}
    for key, value in raw.items():
        node = data
        *parents, last = key.split("__")  # login__trusted_clients=[...] sets login.trusted_clients
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return build_config(data, directory, "test config")


def write_config(directory: Path, name: str = "config.yaml", **raw) -> Path:
    config = make_config(directory, **raw)
    path = directory / name
    data = {key: value for key, value in config.data.items()}
    path.write_text(yaml.safe_dump(data))
    return path


@dataclass
class Actor:
    """A token and its user, as the tests use them."""

    token: str  # v2 form
    token_uuid: str
    secret: str
    user_uuid: str
    email: str
    token_class: str
    is_admin: bool

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


class Actors:
    """Makes users and tokens of every class directly in a database (no HTTP, no policy)."""

    def __init__(self, config: Config, storage: Storage | None = None):
        self.config = config
        self.storage = storage or Storage(open_database(config.database_url, config.base_dir))
        self.storage.upgrade(config.cluster_id)
        self.users = UserService(self.storage, config.cluster_id)
        self.clients = ClientService(self.storage, config.cluster_id)
        self.tokens = TokenService(self.storage, config.cluster_id, config.max_token_lifetime)
        self._count = 0

    def user(self, *, admin: bool = False, email: str | None = None, password: str | None = None):
        if password:
            KNOWN_PASSWORDS.add(password)
        self._count += 1
        email = email or f"user{self._count}-{os.getpid()}@example.org"
        with self.storage.write():
            return self.users.create(email=email, password=password, is_admin=admin)

    def token(
        self,
        token_class: str = "trusted",
        *,
        admin: bool = False,
        user=None,
        scopes: list[str] | None = None,
        expires_at: datetime | None = None,
    ) -> Actor:
        if token_class == "system":
            return Actor(ROOT_TOKEN, fixed_uuid(self.config.cluster_id, "gj3su"), ROOT_TOKEN,
                         fixed_uuid(self.config.cluster_id, USER_TYPE), "root", "system", True)
        user = user or self.user(admin=admin)
        with self.storage.write():
            client_id = None
            if token_class in ("trusted", "untrusted"):
                prefix = f"https://{token_class}.example.org/"
                client, _ = self.clients.find_or_create(prefix, is_trusted=token_class == "trusted")
                client_id = client.id
            row, secret = self.tokens.issue(
                user_id=user.id,
                api_client_id=client_id,
                scopes=scopes if scopes is not None else ["all"],
                expires_at=expires_at,
                ip_address="127.0.0.1",
                modified_by_user_uuid=None,
            )
        return Actor(v2_token(row.uuid, secret), row.uuid, secret, user.uuid, user.email, token_class,
                     bool(user.is_admin))


def wait_until(predicate, seconds: float = 10.0, interval: float = 0.1) -> bool:
    """Poll `predicate` until it is true (True) or `seconds` pass (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


class FakeClock:
    """A monotonic clock the test moves by hand (`clock.now += 0.5`)."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """`authserver serve` in a subprocess on a free port, with a real SQLite file."""

    def __init__(self, directory: Path, *, name: str = "server", **raw):
        """`name` tells apart several servers sharing one folder (and so one SQLite file)."""
        self.directory = directory
        self.port = free_port()
        self.config_path = write_config(directory, f"{name}.yaml" if name != "server" else "config.yaml",
                                        listen__port=self.port, **raw)
        self.config = make_config(directory, listen__port=self.port, **raw)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.actors: Actors | None = None

    def start(self) -> "LiveServer":
        SERVER_LOGS.append(self.log_path)
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "authserver.cli", "--config", str(self.config_path), "serve"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=self.directory,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                requests.get(self.base_url + "/arvados/v1/api_client_authorizations/current", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        else:
            raise RuntimeError("server did not start in 20 s")
        self.actors = Actors(self.config)
        return self

    def url(self, path: str) -> str:
        return self.base_url + path

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (the crash test)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.actors:
            self.actors.storage.close()
        if hasattr(self, "_log"):
            self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


# --- PostgreSQL -------------------------------------------------------------------------------------------

POSTGRESQL_ENV = "AUTHSERVER_TEST_POSTGRESQL"


def postgresql_base_url() -> str | None:
    """The PostgreSQL server the tests may use (an empty database they may add schemas to), or None."""
    return os.environ.get(POSTGRESQL_ENV) or None


class PostgresSchema:
    """A private schema in the test PostgreSQL database: isolation as cheap as a fresh SQLite file."""

    def __init__(self, base_url: str):
        import secrets

        self.base_url = base_url
        self.name = "authserver_test_" + secrets.token_hex(6)
        self._admin("CREATE SCHEMA {name}")

    def _admin(self, statement: str) -> None:
        import psycopg2

        connection = psycopg2.connect(self.base_url)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(statement.format(name=self.name))
        finally:
            connection.close()

    @property
    def url(self) -> str:
        separator = "&" if "?" in self.base_url else "?"
        return f"{self.base_url}{separator}options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        self._admin("DROP SCHEMA IF EXISTS {name} CASCADE")
