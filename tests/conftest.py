from __future__ import annotations

import pytest
from falcon import testing

from authserver.app import create_app

from .support import POSTGRESQL_ENV, Actors, LiveServer, PostgresSchema, make_config, postgresql_base_url


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


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    not_run = getattr(config, "authserver_postgresql_not_run", 0)
    if not_run:
        terminalreporter.write_line(
            f"!!! {not_run} PostgreSQL tests NOT RUN: set {POSTGRESQL_ENV}=postgresql://USER@HOST:5432/DB"
            " (a database the tests may create schemas in) to run them !!!",
            red=True, bold=True,
        )


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
