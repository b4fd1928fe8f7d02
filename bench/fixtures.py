"""The benchmark's world: a fresh database per server, the callers of each scenario, and bulk-seeded tokens.

Callers are made through the server's own services (UserService, ClientService, TokenService), as the CLI
makes them. Filler tokens for the database-scale runs are bulk-inserted with one `executemany` in one
transaction: only SHA-256 digests of random secrets, the same columns a real token has.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from authserver.clients import ClientService
from authserver.config import Config, load_config
from authserver.db import Storage, open_database
from authserver.ids import TOKEN_TYPE, new_uuid, v2_token
from authserver.tokens import TokenService
from authserver.users import UserService

TRUSTED_CLIENT = "https://trusted.example.org/"
UNTRUSTED_CLIENT = "https://untrusted.example.org/"
FILLER_USERS = 100  # filler tokens are spread over this many users
SEED_BATCH = 50_000


@dataclass
class Callers:
    """The tokens (v2 form) each scenario presents. Secrets live only in this process and its wrk children."""

    trusted: str  # a trusted, non-admin token whose user owns `trusted_token_count` tokens
    untrusted: str  # a token issued to an untrusted client: the policy denies it the token list
    unknown: str  # well-formed, but no such token: 401
    login_email: str
    login_password: str
    trusted_token_count: int


def write_config(directory: Path, port: int, *, threads: int | None = None, name: str = "config.yaml",
                 token_cache_seconds: float | None = None, root_token: str | None = None) -> Path:
    """A config for one server: SQLite in `directory` (shared by every config written there), a random
    root token unless given, private-network logins; `token_cache_seconds` None keeps the default (1 s)."""
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        "database": "sqlite:///authserver.db",
        "system_root_token": root_token or secrets.token_hex(32),
        "listen": {"host": "127.0.0.1", "port": port},
        # The login storm returns to http://127.0.0.1:<port>/, a loopback origin.
        "login": {"trust_private_networks": True},
    }
    if token_cache_seconds is not None:
        data["tokens"] = {"cache_seconds": token_cache_seconds}
    if threads is not None:
        data["listen"]["threads"] = threads
    path = directory / name
    path.write_text(yaml.safe_dump(data))
    path.chmod(0o600)  # it holds the root token
    return path


def database_path(config: Config) -> Path:
    raw = config.database_url[len("sqlite:///"):]
    return Path(raw) if raw.startswith("/") else config.base_dir / raw


def make_callers(config_path: Path, *, trusted_tokens: int = 10) -> Callers:
    """Create the schema, then the users and tokens the scenarios present."""
    config = load_config(str(config_path))
    storage = Storage(open_database(config.database_url, config.base_dir))
    storage.upgrade(config.cluster_id)
    users = UserService(storage, config.cluster_id)
    clients = ClientService(storage, config.cluster_id)
    tokens = TokenService(storage, config.cluster_id, config.max_token_lifetime)
    login_password = secrets.token_urlsafe(18)
    try:
        with storage.write():
            trusted_client, _ = clients.find_or_create(TRUSTED_CLIENT, is_trusted=True)
            untrusted_client, _ = clients.find_or_create(UNTRUSTED_CLIENT, is_trusted=False)
            owner = users.create(email="bench-trusted@example.org")
            other = users.create(email="bench-untrusted@example.org")
            users.create(email="bench-login@example.org", password=login_password)
            issued = [
                tokens.issue(user_id=owner.id, api_client_id=trusted_client.id, scopes=["all"], expires_at=None,
                             ip_address="127.0.0.1", modified_by_user_uuid=None)
                for _ in range(trusted_tokens)
            ]
            untrusted_row, untrusted_secret = tokens.issue(
                user_id=other.id, api_client_id=untrusted_client.id, scopes=["all"], expires_at=None,
                ip_address="127.0.0.1", modified_by_user_uuid=None)
    finally:
        storage.close()
    trusted_row, trusted_secret = issued[0]
    return Callers(
        trusted=v2_token(trusted_row.uuid, trusted_secret),
        untrusted=v2_token(untrusted_row.uuid, untrusted_secret),
        unknown=v2_token(new_uuid(config.cluster_id, TOKEN_TYPE), secrets.token_hex(25)),
        login_email="bench-login@example.org",
        login_password=login_password,
        trusted_token_count=trusted_tokens,
    )


def _filler_rows(count: int, cluster_id: str, user_ids: list[int], client_id: int, stamp: str):
    urandom = os.urandom
    sha256 = hashlib.sha256
    prefix = f"{cluster_id}-{TOKEN_TYPE}-"
    users = len(user_ids)
    for index in range(count):
        # 60 random bits of hex: [0-9a-f] is within the UUID alphabet, and collisions among a million are
        # as good as impossible (the unique index would refuse one anyway).
        uuid = prefix + urandom(8).hex()[:15]
        digest = sha256(urandom(32).hex().encode()).hexdigest()
        yield (uuid, digest, user_ids[index % users], client_id, '["all"]', '["all"]', None, "127.0.0.1",
               None, None, stamp, stamp, None)


def seed_tokens(config_path: Path, total: int) -> int:
    """Bulk-insert filler tokens until the database holds `total` tokens; returns how many were added."""
    config = load_config(str(config_path))
    path = database_path(config)
    connection = sqlite3.connect(str(path), isolation_level=None)
    try:
        # Bulk-load settings for this connection only; the server opens its own with its usual pragmas.
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("PRAGMA cache_size = -262144")  # 256 MiB while building the indexes
        (present,) = connection.execute("SELECT COUNT(*) FROM api_client_authorizations").fetchone()
        missing = max(0, total - present)
        if not missing:
            return 0
        (client_id,) = connection.execute(
            "SELECT id FROM api_clients WHERE url_prefix = ?", (TRUSTED_CLIENT,)).fetchone()
        stamp = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
        connection.execute("BEGIN IMMEDIATE")
        filler_users = []
        for index in range(FILLER_USERS):
            email = f"bench-filler-{index}@example.org"
            cursor = connection.execute(
                "INSERT INTO users (uuid, email, email_key, first_name, last_name, is_admin, is_active, prefs,"
                " created_at, modified_at) VALUES (?, ?, ?, '', '', 0, 1, '{}', ?, ?)",
                (new_uuid(config.cluster_id, "tpzed"), email, email, stamp, stamp))
            filler_users.append(cursor.lastrowid)
        connection.executemany(
            "INSERT INTO api_client_authorizations (uuid, secret_digest, user_id, api_client_id, scopes,"
            " scopes_key, expires_at, created_by_ip_address, last_used_at, last_used_by_ip_address,"
            " created_at, modified_at, modified_by_user_uuid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _filler_rows(missing, config.cluster_id, filler_users, client_id, stamp))
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return missing
    finally:
        connection.close()


def token_count(config_path: Path) -> int:
    config = load_config(str(config_path))
    connection = sqlite3.connect(str(database_path(config)))
    try:
        return connection.execute("SELECT COUNT(*) FROM api_client_authorizations").fetchone()[0]
    finally:
        connection.close()
