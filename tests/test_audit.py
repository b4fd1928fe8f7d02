"""The audit log (issue 7): security events recorded with the change, never a secret, readable by operators."""

from __future__ import annotations

import json
import subprocess
import sys

import requests

BASE = "/arvados/v1/api_client_authorizations"


def audit(server, *args):
    result = subprocess.run([sys.executable, "-m", "authserver.cli", "--config", str(server.config_path), "audit", *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_token_lifecycle_is_audited_without_secrets(live_server):
    actor = live_server.actors.token("trusted")
    created = requests.post(live_server.url(BASE), headers={**actor.headers, "X-Request-Id": "audit-test-1"},
                            json={"api_client_authorization": {"scopes": ["GET /x"]}}, timeout=10).json()
    requests.patch(live_server.url(f"{BASE}/{created['uuid']}"), headers=actor.headers,
                   json={"api_client_authorization": {"scopes": ["GET /y"]}}, timeout=10)
    requests.delete(live_server.url(f"{BASE}/{created['uuid']}"), headers=actor.headers, timeout=10)

    events = audit(live_server, "--object", created["uuid"])
    assert [event["event_type"] for event in events] == ["token.revoked", "token.updated", "token.created"]
    creation = events[-1]
    assert creation["actor_uuid"] == actor.user_uuid
    assert creation["token_uuid"] == actor.token_uuid
    assert creation["request_id"] == "audit-test-1"
    assert creation["ip_address"] == "127.0.0.1"
    assert creation["details"]["scopes"] == ["GET /x"]
    everything = json.dumps(audit(live_server, "--limit", "1000"))
    assert created["api_token"] not in everything and actor.secret not in everything
    # and the same events went to the log as JSON lines, after the commit
    log_lines = [line for line in live_server.log_text().splitlines() if '"audit"' in line]
    assert any(created["uuid"] in line and "token.revoked" in line for line in log_lines)
    assert created["api_token"] not in live_server.log_text()


def test_a_failed_request_records_nothing(live_server):
    actor = live_server.actors.token("trusted")
    before = len(audit(live_server, "--type", "token.created", "--limit", "1000"))
    response = requests.post(live_server.url(BASE), headers=actor.headers,
                             json={"api_client_authorization": {"scopes": ["bogus"]}}, timeout=10)
    assert response.status_code == 422
    assert len(audit(live_server, "--type", "token.created", "--limit", "1000")) == before


def test_audit_filters_and_bad_input(live_server):
    result = subprocess.run([sys.executable, "-m", "authserver.cli", "--config", str(live_server.config_path),
                             "audit", "--type", "no.such.type"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "unknown event type" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert all(event["event_type"] == "token.created" for event in audit(live_server, "--type", "token.created"))
    assert len(audit(live_server, "--limit", "1")) == 1


def test_policy_reloads_and_refusals_are_audited(tmp_path):
    import shutil

    from authserver.app import build_services
    from authserver.audit import AuditLog
    from authserver import POLICY_DIR

    from .support import make_config

    policy = tmp_path / "policy.yaml"
    shutil.copy(POLICY_DIR / "default.yaml", policy)
    services = build_services(make_config(tmp_path, policy=str(policy)))
    try:
        policy.write_text(policy.read_text() + "\n# an edit\n")
        assert services.reloader.check()
        policy.write_text("rules: [oops\n")
        assert not services.reloader.check()
        events = AuditLog(services.storage).query()
        assert [event["event_type"] for event in events] == ["policy.refused", "policy.reloaded"]
        assert events[0]["details"]["problems"][0].startswith(str(policy))
        assert events[1]["details"]["digest"] == services.policy.policy.digest
    finally:
        services.close()


def test_logins_and_logouts_are_audited(tmp_path):
    from .login_session import LoginSession, token_from_redirect
    from .support import LiveServer

    server = LiveServer(tmp_path, login__allowed_clients=["https://app.example.org"]).start()
    try:
        user = server.actors.user(password="a good long password")
        session = LoginSession(server.base_url)
        app_page = "https://app.example.org/page"
        assert session.sign_in(app_page, user.email, "the wrong password").status_code == 401
        token = token_from_redirect(session.sign_in(app_page, user.email, "a good long password"))
        assert session.logout(token=token).status_code == 200
        everything = audit(server, "--limit", "20")
        # the first sign-in to this app also registered it as a client
        assert any(event["event_type"] == "client.created" for event in everything)
        events = [event for event in everything if event["event_type"].startswith(("login", "logout"))]
        types = [event["event_type"] for event in events]
        assert types == ["logout", "login.success", "login.failure"]
        failure = events[2]
        assert failure["object_uuid"] == user.uuid
        assert failure["details"]["reason"] == "wrong password or unknown email"
        assert user.email not in json.dumps(failure)
        assert events[1]["actor_uuid"] == user.uuid and events[1]["details"]["client"] == "https://app.example.org/"
        assert "a good long password" not in json.dumps(events) and token.split("/")[-1] not in json.dumps(events)
    finally:
        server.stop()


def test_user_and_client_changes_are_audited_with_the_caller(live_server):
    system = live_server.actors.token("system")
    admin = live_server.actors.token("trusted", admin=True)
    users = "/arvados/v1/users"
    created = requests.post(live_server.url(users), headers={**system.headers, "X-Request-Id": "make-user"},
                            json={"user": {"email": "audited@example.org", "password": "long enough pw"}}, timeout=10)
    assert created.status_code == 200, created.text
    uuid = created.json()["uuid"]
    for change in ({"is_admin": True}, {"is_active": False}, {"password": "another long pw"}):
        response = requests.patch(live_server.url(f"{users}/{uuid}"), headers=admin.headers,
                                  json={"user": change}, timeout=10)
        assert response.status_code == 200, response.text
    events = audit(live_server, "--object", uuid)
    assert [event["event_type"] for event in events] == [
        "user.password_changed", "user.active_changed", "user.admin_changed", "user.created"]
    assert events[0]["actor_uuid"] == admin.user_uuid and events[0]["token_uuid"] == admin.token_uuid
    assert events[2]["details"] == {"from": False, "to": True}
    assert events[3]["request_id"] == "make-user" and events[3]["actor_uuid"] == system.user_uuid
    assert "long enough pw" not in json.dumps(events) and "another long pw" not in json.dumps(events)

    clients = "/arvados/v1/api_clients"
    client = requests.post(live_server.url(clients), headers=system.headers,
                           json={"api_client": {"url_prefix": "https://audited.example.org/"}}, timeout=10).json()
    requests.patch(live_server.url(f"{clients}/{client['uuid']}"), headers=system.headers,
                   json={"api_client": {"is_trusted": True}}, timeout=10)
    requests.delete(live_server.url(f"{clients}/{client['uuid']}"), headers=system.headers, timeout=10)
    events = audit(live_server, "--object", client["uuid"])
    assert [event["event_type"] for event in events] == ["client.deleted", "client.trust_changed", "client.created"]
    assert events[1]["details"]["to"] is True


def test_command_line_changes_name_the_system_user(live_server):
    result = subprocess.run([sys.executable, "-m", "authserver.cli", "--config", str(live_server.config_path),
                             "client", "create", "https://cli-audited.example.org", "--trusted"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    uuid = json.loads(result.stdout)["uuid"]
    (event,) = audit(live_server, "--object", uuid)
    assert event["event_type"] == "client.created"
    assert event["actor_uuid"] == "zzzzz-tpzed-000000000000000" and event["request_id"] == "command line"
