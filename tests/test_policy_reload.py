"""Hot reload, `/_health` and the decision log, against a running `authserver serve`."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import time

import pytest
import requests

from authserver import POLICY_DIR

from .support import LiveServer

UNTRUSTED_READS_ITSELF = """
  - id: untrusted-reads-itself
    description: An untrusted token reads itself.
    effect: allow
    methods: [api_client_authorizations.get]
    classes: [untrusted]
    when: {target: self}
"""


def wait_for(condition, seconds: float = 2.0):
    """Poll until condition() is truthy; returns (value, elapsed seconds) or fails after `seconds`."""
    started = time.monotonic()
    while True:
        value = condition()
        elapsed = time.monotonic() - started
        if value:
            return value, elapsed
        if elapsed > seconds:
            pytest.fail(f"not within {seconds} s")
        time.sleep(0.05)


def health(server) -> dict:
    response = requests.get(server.url("/_health"), timeout=5)
    assert response.status_code == 200
    return response.json()


def get_self(server, actor) -> int:
    return requests.get(server.url(f"/arvados/v1/api_client_authorizations/{actor.token_uuid}"),
                        headers=actor.headers, timeout=5).status_code


@pytest.fixture
def reloading_server(tmp_path):
    policy = tmp_path / "policy.yaml"
    shutil.copy(POLICY_DIR / "default.yaml", policy)
    server = LiveServer(tmp_path, policy=str(policy)).start()
    yield server, policy
    server.stop()


def test_health_is_public_and_reports_the_active_policy(reloading_server):
    server, policy = reloading_server
    report = health(server)
    assert report["status"] == "ok"
    assert report["policy"]["digest"] == hashlib.sha256(policy.read_bytes()).hexdigest()
    assert report["policy"]["name"] == "default"
    assert report["policy"]["loaded_at"].endswith("Z")
    assert report["policy"]["last_error"] is None


def test_a_changed_policy_is_live_within_2_seconds_and_a_bad_one_is_refused(reloading_server):
    server, policy = reloading_server
    untrusted = server.actors.token("untrusted")
    assert get_self(server, untrusted) == 403
    before = health(server)["policy"]

    policy.write_text(policy.read_text() + UNTRUSTED_READS_ITSELF + UNTRUSTED_READS_ITSELF.replace(
        "id: untrusted-reads-itself", "id: untrusted-reads-itself-again"))
    _, elapsed = wait_for(lambda: get_self(server, untrusted) == 200)
    assert elapsed < 2.0
    wait_for(lambda: "warning: rule untrusted-reads-itself-again duplicates rule untrusted-reads-itself"
             in server.log_text())  # a reload logs what `policy check` would warn about
    after = health(server)["policy"]
    assert after["digest"] == hashlib.sha256(policy.read_bytes()).hexdigest() != before["digest"]
    assert after["loaded_at"] > before["loaded_at"]

    good_digest = after["digest"]
    lines = policy.read_text().splitlines()
    broken_line = len(lines) - 1  # `classes: [untrusted]` of the last added rule
    assert lines[broken_line - 1].strip() == "classes: [untrusted]"
    lines[broken_line - 1] = lines[broken_line - 1].replace("untrusted", "robots")
    policy.write_text("\n".join(lines) + "\n")
    report, _ = wait_for(lambda: health(server)["policy"]["last_error"])
    assert report[0].startswith(f"{policy}:{broken_line}:")
    assert "robots" in report[0]
    assert health(server)["policy"]["digest"] == good_digest  # the last good policy keeps serving
    assert get_self(server, untrusted) == 200
    assert f"policy reload refused: {policy}:{broken_line}:" in server.log_text()

    shutil.copy(POLICY_DIR / "default.yaml", policy)
    wait_for(lambda: health(server)["policy"]["last_error"] is None)
    assert get_self(server, untrusted) == 403


def test_sighup_reloads_at_once(reloading_server):
    server, _ = reloading_server
    loaded_at = health(server)["policy"]["loaded_at"]
    server.process.send_signal(signal.SIGHUP)
    _, elapsed = wait_for(lambda: health(server)["policy"]["loaded_at"] != loaded_at)
    assert elapsed < 2.0
    assert server.process.poll() is None  # SIGHUP did not stop the server


def test_a_change_to_an_extended_base_file_is_noticed(tmp_path):
    shutil.copy(POLICY_DIR / "default.yaml", tmp_path / "default.yaml")
    shutil.copy(POLICY_DIR / "arvados-2.7.yaml", tmp_path / "arvados-2.7.yaml")
    server = LiveServer(tmp_path, policy=str(tmp_path / "arvados-2.7.yaml")).start()
    try:
        api_created = server.actors.token("api_created")
        url = server.url("/arvados/v1/users/current")
        assert requests.get(url, headers=api_created.headers, timeout=5).status_code == 200
        base = tmp_path / "default.yaml"
        base.write_text(base.read_text().replace("methods: [users.current, users.get]", "methods: [users.get]"))
        wait_for(lambda: requests.get(url, headers=api_created.headers, timeout=5).status_code == 403)
        assert health(server)["policy"]["name"] == "arvados-2.7"
    finally:
        server.stop()


# --- the decision log ----------------------------------------------------------------------------------


TRUSTED_RENAMES_ITSELF = """
  - id: trusted-renames-itself
    description: A trusted token changes its own user (but not is_admin, is_active or the password).
    effect: allow
    methods: [users.update]
    classes: [trusted]
    when: {target: self}
"""


def test_the_decision_log_has_one_json_line_per_decision_and_never_a_secret(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text((POLICY_DIR / "default.yaml").read_text() + TRUSTED_RENAMES_ITSELF)
    server = LiveServer(tmp_path, policy=str(policy), decision_log={"allowed": True, "file": "decisions.jsonl"}).start()
    try:
        untrusted = server.actors.token("untrusted")
        trusted = server.actors.token("trusted")
        deactivate = requests.patch(server.url(f"/arvados/v1/users/{trusted.user_uuid}"), headers=trusted.headers,
                                 json={"user": {"is_active": False}}, timeout=5)
        assert deactivate.status_code == 403
        denied = requests.get(server.url("/arvados/v1/api_client_authorizations"), headers=untrusted.headers,
                              timeout=5)
        allowed = requests.get(server.url(f"/arvados/v1/api_client_authorizations/{trusted.token_uuid}"),
                               headers={**trusted.headers, "X-Request-Id": "req-log-test-allowed"}, timeout=5)
        assert (denied.status_code, allowed.status_code) == (403, 200)
        log_path = tmp_path / "decisions.jsonl"
        entries = [json.loads(line) for line in log_path.read_text().splitlines()]
        by_request = {entry["request_id"]: entry for entry in entries}
        deny = by_request[denied.headers["X-Request-Id"]]
        assert deny == {**deny, "event": "policy_decision", "token_uuid": untrusted.token_uuid,
                        "class": "untrusted", "method": "api_client_authorizations.list", "effect": "deny",
                        "rule": "default-deny", "user_uuid": untrusted.user_uuid}
        allow = by_request["req-log-test-allowed"]
        assert (allow["effect"], allow["rule"], allow["target"]) == ("allow", "trusted-manage-own-tokens", "self")
        # A decision taken inside a route is logged under its own name, after the route's own decision.
        deactivated = [e for e in entries if e["request_id"] == deactivate.headers["X-Request-Id"]]
        assert [(e["method"], e["effect"], e["rule"]) for e in deactivated] == [
            ("users.update", "allow", "trusted-renames-itself"), ("users.update_privileged", "deny", "default-deny")]
        text = log_path.read_text() + server.log_text()
        assert untrusted.secret not in text and trusted.secret not in text
    finally:
        server.stop()


def test_by_default_only_denials_are_logged_to_the_server_log(live_server):
    trusted = live_server.actors.token("trusted")
    api_created = live_server.actors.token("api_created")
    ok = requests.get(live_server.url("/arvados/v1/api_client_authorizations"), headers=trusted.headers, timeout=5)
    refused = requests.get(live_server.url("/arvados/v1/api_clients"), headers=api_created.headers, timeout=5)
    assert (ok.status_code, refused.status_code) == (200, 403)

    def entries():
        found = []
        for line in live_server.log_text().splitlines():
            if line.startswith("{") and '"policy_decision"' in line:
                found.append(json.loads(line))
        return found

    logged, _ = wait_for(lambda: [e for e in entries() if e["request_id"] == refused.headers["X-Request-Id"]])
    assert logged[0]["rule"] == "default-deny" and logged[0]["class"] == "api_created"
    assert not [e for e in entries() if e["request_id"] == ok.headers["X-Request-Id"]]
