from __future__ import annotations

import pytest
from falcon import testing

from authserver.app import create_app

from .support import Actors, LiveServer, make_config


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path)


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
