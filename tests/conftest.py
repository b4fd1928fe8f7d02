from __future__ import annotations

import logging
import re

import pytest
from falcon import testing

from authserver.app import create_app
from authserver.db import Storage, open_database

from .support import (KNOWN_PASSWORDS, POSTGRESQL_ENV, ROOT_TOKEN, SERVER_LOGS, Actors, LiveServer, PostgresSchema,
                      make_config, postgresql_base_url)


BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def database_url(request):
    """Each API test runs on SQLite (a fresh file) and on PostgreSQL (a fresh schema)."""
    if request.param == "sqlite":
        yield "sqlite:///authserver.db"
        return
    schema = PostgresSchema(postgresql_base_url())
    yield schema.url
    schema.drop()


@pytest.fixture
def postgresql_url():
    """A fresh PostgreSQL schema for tests that only make sense there (marked `postgresql`)."""
    schema = PostgresSchema(postgresql_base_url())
    yield schema.url
    schema.drop()


@pytest.fixture
def config(tmp_path, database_url):
    return make_config(tmp_path, database=database_url)


def _needs_postgresql(item) -> bool:
    callspec = getattr(item, "callspec", None)
    return item.get_closest_marker("postgresql") is not None or (
        callspec is not None and callspec.params.get("database_url") == "postgresql"
    )


def pytest_collection_modifyitems(config, items):
    """Without a PostgreSQL server, leave its half of the suite out and say so once, loudly."""
    if postgresql_base_url() is not None:
        return
    deselected = [item for item in items if _needs_postgresql(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not _needs_postgresql(item)]
        config.authserver_postgresql_not_run = len(deselected)


def _report_postgresql(terminalreporter, config):
    not_run = getattr(config, "authserver_postgresql_not_run", 0)
    if not_run:
        terminalreporter.write_line(
            f"!!! {not_run} PostgreSQL tests NOT RUN: set {POSTGRESQL_ENV}=postgresql://USER@HOST:5432/DB"
            " (a database the tests may create schemas in) to run them !!!",
            red=True, bold=True,
        )


@pytest.fixture
def storage(tmp_path):
    """Storage on a fresh, migrated SQLite file, for tests below the HTTP layer."""
    config = make_config(tmp_path)
    storage = Storage(open_database(config.database_url, config.base_dir))
    storage.upgrade(config.cluster_id)
    yield storage
    storage.close()


@pytest.fixture
def app(config):
    app = create_app(config)
    yield app
    app.services.close()


@pytest.fixture
def client(app):
    return testing.TestClient(app)


@pytest.fixture
def actors(app):
    return Actors(app.services.config, app.services.storage)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """One real server per test module (starting one costs ~0.5 s)."""
    server = LiveServer(tmp_path_factory.mktemp("live")).start()
    yield server
    server.stop()


# --- log hygiene (issue 7): no secret or password in any log line of the whole run ----------------------------

# Every secret this server makes is exactly 50 characters of [0-9a-z]; nothing else it logs has that shape.
SECRET_SHAPE = re.compile(r"(?<![0-9A-Za-z])[0-9a-z]{50}(?![0-9A-Za-z])")


class _EveryLogLine(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is not a leak
            pass


_log_capture = _EveryLogLine()


def pytest_configure(config):
    logging.getLogger().addHandler(_log_capture)
    logging.getLogger("authserver").setLevel(logging.DEBUG)


def _leaks(text: str, where: str) -> list[str]:
    found = []
    for match in SECRET_SHAPE.finditer(text):
        found.append(f"{where}: a token secret: {match.group()[:6]}...")
    if ROOT_TOKEN in text:
        found.append(f"{where}: the system root token")
    for password in KNOWN_PASSWORDS:
        if len(password) >= 8 and password in text:
            found.append(f"{where}: a password")
    return found


def pytest_sessionfinish(session, exitstatus):
    leaks = _leaks("\n".join(_log_capture.lines), "in-process log")
    for path in SERVER_LOGS:
        if path.exists():
            leaks += _leaks(path.read_text(errors="replace"), f"server log {path}")
    session.config.authserver_log_leaks = leaks
    if leaks and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    _report_postgresql(terminalreporter, config)
    leaks = getattr(config, "authserver_log_leaks", [])
    checked = len(_log_capture.lines)
    if leaks:
        terminalreporter.write_line(f"LOG HYGIENE FAILED: {len(leaks)} secret(s) in the logs:", red=True, bold=True)
        for leak in leaks[:20]:
            terminalreporter.write_line("  " + leak, red=True)
    else:
        terminalreporter.write_line(
            f"log hygiene: no token secret or password in {checked} in-process log lines and {len(SERVER_LOGS)} server logs"
        )
