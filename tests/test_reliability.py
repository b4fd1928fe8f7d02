"""Reliability (issue 7): concurrency, several processes, revocation, crashes and faults — on a live server.

Nothing acknowledged is lost and nothing failing is reported as success: writes during a fault answer 503
with Retry-After, reads keep working where the database can still be read, and the server recovers by
itself when the fault clears.
"""

from __future__ import annotations

import os
import random
import socket
import sqlite3
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from .support import LiveServer, wait_until

BASE = "/arvados/v1/api_client_authorizations"


def wrapped(**fields):
    return {"api_client_authorization": fields}


@contextmanager
def servers(directory: Path, count: int, **raw):
    started = []
    try:
        for index in range(count):
            started.append(LiveServer(directory, name=f"server{index}", **raw).start())
        yield started
    finally:
        for server in started:
            server.stop()


class Load:
    """`clients` threads creating, listing and deleting tokens across `targets` for `seconds`."""

    def __init__(self, targets: list[LiveServer], actor, clients: int = 16, seconds: float = 3.0):
        self.targets, self.actor, self.clients, self.seconds = targets, actor, clients, seconds
        self.created: dict[str, str] = {}  # uuid -> secret, acknowledged with 200
        self.deleted: set[str] = set()
        # A delete whose answer never came (the server was killed) may or may not have happened.
        self.delete_attempted: set[str] = set()
        self.statuses: dict[int, int] = {}
        self.bad_bodies: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def _client(self, number: int) -> None:
        session = requests.Session()
        session.headers.update(self.actor.headers)
        mine: list[str] = []
        rng = random.Random(number)
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline and not self.stop.is_set():
            server = rng.choice(self.targets)
            action = rng.choice(("create", "create", "list", "delete"))
            try:
                if action == "create":
                    response = session.post(server.url(BASE), json=wrapped(scopes=["all"]), timeout=30)
                    if response.status_code == 200:
                        body = response.json()
                        with self.lock:
                            self.created[body["uuid"]] = body["api_token"]
                        mine.append(body["uuid"])
                elif action == "list":
                    response = session.get(server.url(BASE), params={"limit": "5"}, timeout=30)
                elif mine:
                    uuid = mine.pop(rng.randrange(len(mine)))
                    with self.lock:
                        self.delete_attempted.add(uuid)
                    response = session.delete(server.url(f"{BASE}/{uuid}"), timeout=30)
                    if response.status_code == 200:
                        with self.lock:
                            self.deleted.add(uuid)
                else:
                    continue
            except requests.RequestException:
                if self.stop.is_set():
                    return  # the server was killed under us: an unanswered request acknowledged nothing
                raise
            with self.lock:
                self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
                if response.status_code >= 500 or "locked" in response.text:
                    self.bad_bodies.append(response.text[:300])

    def run(self) -> "Load":
        threads = [threading.Thread(target=self._client, args=(number,)) for number in range(self.clients)]
        for thread in threads:
            thread.start()
        self.threads = threads
        return self

    def join(self) -> "Load":
        for thread in self.threads:
            thread.join(60)
        return self


def check_tokens(server: LiveServer, created: dict[str, str], deleted: set[str],
                 undecided: set[str] = frozenset()) -> None:
    """Acknowledged creations work, acknowledged deletions are dead; `undecided` tokens may be either."""
    session = requests.Session()
    for uuid, secret in created.items():
        if uuid in undecided and uuid not in deleted:
            continue
        response = session.get(server.url(f"{BASE}/current"), headers={"Authorization": f"Bearer {secret}"}, timeout=10)
        expected = 401 if uuid in deleted else 200
        assert response.status_code == expected, (uuid, response.status_code, response.text)


@pytest.mark.parametrize("processes", [1, 2])
def test_sixteen_clients_at_once_lose_nothing(tmp_path, database_url, processes):
    with servers(tmp_path, processes, database=database_url) as started:
        actor = started[0].actors.token("trusted")
        load = Load(started, actor).run().join()
        assert not load.bad_bodies, load.bad_bodies[:3]
        assert set(load.statuses) <= {200}, load.statuses
        assert len(load.created) > 20 and load.deleted, (len(load.created), len(load.deleted))
        for server in started:
            check_tokens(server, load.created, load.deleted)


def settled_status(get, database_url: str) -> int:
    """The other process's answer. Both run the token cache (the default). On SQLite the writer's signal
    (authserver/changes.py) is in shared memory before its response leaves, so the first answer must already
    be right. On PostgreSQL it travels as a NOTIFY to the other process's listener thread, a moment after
    the commit: the answer must be right within the cache's second (SPEC §10), and is then final."""
    deadline = time.monotonic() + (0 if database_url.startswith("sqlite") else 1.0)
    first = status = get().status_code
    while status == first and time.monotonic() < deadline:
        time.sleep(0.01)
        status = get().status_code
    return status


def test_revocation_is_seen_by_every_process_at_once(tmp_path, database_url):
    with servers(tmp_path, 2, database=database_url) as (first, second):
        system = first.actors.token("system")
        # token deletion
        victim = first.actors.token("trusted")
        assert requests.get(second.url(f"{BASE}/current"), headers=victim.headers, timeout=10).status_code == 200
        assert requests.delete(first.url(f"{BASE}/{victim.token_uuid}"), headers=system.headers, timeout=10).status_code == 200
        assert settled_status(lambda: requests.get(second.url(f"{BASE}/current"), headers=victim.headers,
                                                   timeout=10), database_url) == 401
        # user deactivation, through the other process
        user_token = first.actors.token("trusted")
        assert requests.get(second.url(f"{BASE}/current"), headers=user_token.headers, timeout=10).status_code == 200
        response = requests.patch(first.url(f"/arvados/v1/users/{user_token.user_uuid}"), headers=system.headers,
                                  json={"user": {"is_active": False}}, timeout=10)
        assert response.status_code == 200, response.text
        assert settled_status(lambda: requests.get(second.url(f"{BASE}/current"), headers=user_token.headers,
                                                   timeout=10), database_url) == 401
        # a client losing its trust: the next request of its tokens is untrusted everywhere
        trusted = first.actors.token("trusted")
        assert requests.get(second.url(BASE), headers=trusted.headers, timeout=10).status_code == 200
        clients = requests.get(first.url("/arvados/v1/api_clients"), headers=system.headers, timeout=10).json()
        client = next(item for item in clients["items"] if item["url_prefix"] == "https://trusted.example.org/")
        response = requests.patch(first.url(f"/arvados/v1/api_clients/{client['uuid']}"), headers=system.headers,
                                  json={"api_client": {"is_trusted": False}}, timeout=10)
        assert response.status_code == 200, response.text
        assert settled_status(lambda: requests.get(second.url(BASE), headers=trusted.headers, timeout=10),
                              database_url) == 403


def test_kill_9_during_writes_loses_no_acknowledged_token(tmp_path):
    with servers(tmp_path, 1) as (server,):
        actor = server.actors.token("trusted")
        load = Load([server], actor, clients=8, seconds=10).run()
        time.sleep(1.5)
        load.stop.set()
        server.kill()
        load.join()
        assert len(load.created) > 5
    database = tmp_path / "authserver.db"
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with servers(tmp_path, 1) as (restarted,):
        check_tokens(restarted, load.created, load.deleted, undecided=load.delete_attempted)


# --- faults ---------------------------------------------------------------------------------------------


def assert_writes_refused_reads_served(server: LiveServer, actor, reads_work: bool = True) -> None:
    response = requests.post(server.url(BASE), headers=actor.headers, json=wrapped(), timeout=30)
    assert response.status_code == 503, response.text
    assert response.headers.get("Retry-After")
    assert response.json()["errors"][0].startswith("Service unavailable")
    health = requests.get(server.url("/_health"), timeout=30)
    assert health.status_code == 503
    assert health.json()["database"]["error"]
    if reads_work:
        assert requests.get(server.url(f"{BASE}/current"), headers=actor.headers, timeout=30).status_code == 200


def assert_recovers(server: LiveServer, actor) -> None:
    assert wait_until(lambda: requests.post(server.url(BASE), headers=actor.headers, json=wrapped(),
                                            timeout=30).status_code == 200), "writes did not recover"
    # /_health probes the database at most once a second
    assert wait_until(lambda: requests.get(server.url("/_health"), timeout=30).status_code == 200, 3)


def _chattr(flag: str, *paths: Path) -> bool:
    result = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True)
    return result.returncode == 0


def test_read_only_database(tmp_path):
    with servers(tmp_path, 1) as (server,):
        actor = server.actors.token("trusted")
        requests.get(server.url(f"{BASE}/current"), headers=actor.headers, timeout=10)
        files = [tmp_path / "authserver.db", tmp_path / "authserver.db-wal"]
        if not _chattr("+i", *files):
            pytest.skip("cannot make the database file immutable here (needs root and chattr on ext4)")
        try:
            assert_writes_refused_reads_served(server, actor)
        finally:
            _chattr("-i", *files)
        assert_recovers(server, actor)


@pytest.fixture
def tiny_disk(tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True)
    if result.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): the disk-full test did not run")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_disk_full(tiny_disk):
    with servers(tiny_disk, 1) as (server,):
        actor = server.actors.token("trusted")
        filler = tiny_disk / "filler"
        # Unbuffered: nothing is left to flush when the file closes on a full disk (that would raise).
        with open(filler, "wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    os.fsync(handle.fileno())
            except OSError:
                pass  # the disk is full
        try:
            # Until SQLite needs a new page it may still fit a write: keep writing until the disk refuses.
            statuses = set()
            for _ in range(200):
                response = requests.post(server.url(BASE), headers=actor.headers,
                                         json=wrapped(scopes=["GET /" + "x" * 900]), timeout=30)
                statuses.add(response.status_code)
                if response.status_code != 200:
                    break
            assert statuses - {200} == {503}, statuses
            assert_writes_refused_reads_served(server, actor)
        finally:
            filler.unlink()
        assert_recovers(server, actor)


class CuttableProxy:
    """A TCP proxy in front of PostgreSQL that the test can cut and restore (the shared server never stops)."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.port = None
        self.listener = None
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port or 0))
        self.port = self.listener.getsockname()[1]
        self.listener.listen(64)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source, target) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() thread; close() alone would not
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for connection in self.connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                connection.close()
            self.connections.clear()


@pytest.mark.postgresql
def test_postgresql_unreachable(tmp_path, postgresql_url):
    from urllib.parse import urlsplit

    parts = urlsplit(postgresql_url)
    if not parts.hostname:
        pytest.skip("the test PostgreSQL is reached over a socket; the proxy needs TCP")
    proxy = CuttableProxy((parts.hostname, parts.port or 5432))
    proxied = postgresql_url.replace(parts.netloc, f"{parts.username + '@' if parts.username else ''}127.0.0.1:{proxy.port}", 1)
    with servers(tmp_path, 1, database=proxied) as (server,):
        actor = server.actors.token("trusted")
        assert requests.post(server.url(BASE), headers=actor.headers, json=wrapped(), timeout=30).status_code == 200
        proxy.cut()
        try:
            # With the database gone nothing can be read either: every token answer is 503, never 200 or 401.
            assert_writes_refused_reads_served(server, actor, reads_work=False)
            response = requests.get(server.url(f"{BASE}/current"), headers=actor.headers, timeout=30)
            assert response.status_code == 503
        finally:
            proxy.restore()
        assert_recovers(server, actor)
