"""Shadow mode (config `policy_shadow`) and `policy replay` of a decision log, through the real app."""

from __future__ import annotations

import json
import signal
import time

import pytest
import requests
from falcon import testing

from authserver import POLICY_DIR
from authserver.app import create_app
from authserver.cli import main
from authserver.policy import PolicyError

from .support import Actors, LiveServer, make_config

ARVADOS = str(POLICY_DIR / "arvados-2.7.yaml")
DEFAULT = str(POLICY_DIR / "default.yaml")
TOKENS = "/arvados/v1/api_client_authorizations"


def served(tmp_path, **raw):
    config = make_config(tmp_path, decision_log__allowed=True, decision_log__file="decisions.jsonl", **raw)
    app = create_app(config)
    return app, testing.TestClient(app), Actors(app.services.config, app.services.storage)


def log_entries(tmp_path, event: str) -> list[dict]:
    lines = (tmp_path / "decisions.jsonl").read_text().splitlines()
    return [entry for entry in map(json.loads, lines) if entry["event"] == event]


@pytest.fixture
def shadowed(tmp_path):
    app, client, actors = served(tmp_path, policy_shadow=ARVADOS)
    yield app, client, actors
    app.services.close()


def test_the_shadow_decides_beside_the_active_policy_and_logs_each_disagreement(shadowed, tmp_path):
    app, client, actors = shadowed
    untrusted = actors.token("untrusted")
    untrusted_admin = actors.token("untrusted", admin=True)
    trusted = actors.token("trusted")
    # default.yaml enforces: an untrusted token may not read itself; arvados-2.7 (the shadow) would allow it.
    response = client.simulate_get(f"{TOKENS}/{untrusted.token_uuid}", headers=untrusted.headers)
    assert response.status_code == 403
    assert client.simulate_post("/arvados/v1/api_clients", headers=untrusted_admin.headers,
                                json={"api_client": {"url_prefix": "https://new.example.org/"}}).status_code == 403
    assert client.simulate_get(f"{TOKENS}/current", headers=trusted.headers).status_code == 200

    disagreements = log_entries(tmp_path, "policy_shadow_disagreement")
    assert [(d["method"], d["target"], d["active"], d["shadow"]) for d in disagreements] == [
        ("api_client_authorizations.get", None, {"effect": "deny", "rule": "default-deny"},
         {"effect": "allow", "rule": "untrusted-manages-itself"}),
        ("api_clients.create", None, {"effect": "deny", "rule": "default-deny"},
         {"effect": "allow", "rule": "trusted-admin-manages-api-clients"}),
    ]
    assert disagreements[0]["token_uuid"] == untrusted.token_uuid and disagreements[0]["request_id"]
    text = (tmp_path / "decisions.jsonl").read_text()
    assert untrusted.secret not in text and untrusted_admin.secret not in text

    shadow = client.simulate_get("/_health").json["policy_shadow"]
    assert shadow["name"] == "arvados-2.7" and len(shadow["digest"]) == 64
    assert (shadow["decisions"], shadow["disagreements"], shadow["errors"]) == (3, 2, 0)


def test_a_failing_shadow_never_changes_the_enforced_decision(shadowed, monkeypatch):
    app, client, actors = shadowed
    trusted = actors.token("trusted")

    def broken(*args, **kwargs):
        raise RuntimeError("shadow bug")

    monkeypatch.setattr(app.services.shadow.policy, "decide", broken)
    assert client.simulate_get(f"{TOKENS}/current", headers=trusted.headers).status_code == 200
    untrusted = actors.token("untrusted")
    assert client.simulate_get(f"{TOKENS}/{untrusted.token_uuid}", headers=untrusted.headers).status_code == 403
    shadow = client.simulate_get("/_health").json["policy_shadow"]
    assert (shadow["errors"], shadow["decisions"]) == (2, 0)


def test_without_a_shadow_nothing_is_compared(tmp_path):
    app, client, actors = served(tmp_path)
    try:
        assert app.services.shadow is None
        trusted = actors.token("trusted")
        assert client.simulate_get(f"{TOKENS}/current", headers=trusted.headers).status_code == 200
        assert client.simulate_get("/_health").json["policy_shadow"] is None
        assert log_entries(tmp_path, "policy_shadow_disagreement") == []
    finally:
        app.services.close()


def test_an_invalid_shadow_policy_stops_start_up_with_file_line_and_column(tmp_path):
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text("rules:\n  - id: a\n    id: b\n")
    with pytest.raises(PolicyError) as refused:
        create_app(make_config(tmp_path, policy_shadow="candidate.yaml"))
    assert refused.value.problems == [f"{candidate}:3:5: duplicate key 'id' (first at line 2)"]


# --- replay ----------------------------------------------------------------------------------------------


def replay(capsys, *argv) -> tuple[int, str, str]:
    code = main(["policy", "replay", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_replay_reports_the_recorded_requests_a_new_policy_decides_differently(tmp_path, capsys):
    app, client, actors = served(tmp_path)
    try:
        untrusted = actors.token("untrusted")
        trusted = actors.token("trusted")
        assert client.simulate_get(f"{TOKENS}/{untrusted.token_uuid}", headers=untrusted.headers).status_code == 403
        assert client.simulate_get(f"{TOKENS}/{trusted.token_uuid}", headers=trusted.headers).status_code == 200
        assert client.simulate_get(f"{TOKENS}/current", headers=untrusted.headers).status_code == 200
    finally:
        app.services.close()
    log = tmp_path / "decisions.jsonl"
    code, out, _ = replay(capsys, log, "--policy", DEFAULT)
    assert code == 0 and "3 decisions replayed, 0 decided differently" in out
    code, out, _ = replay(capsys, log, "--policy", ARVADOS)
    assert code == 1
    assert "3 decisions replayed, 1 decided differently (1 now allowed, 0 now denied)" in out
    assert (f"{log}:1:1: " in out and f"token {untrusted.token_uuid} untrusted (is_admin=false, is_active=true) "
            "api_client_authorizations.get (method check): recorded deny by default-deny → now passes the method "
            "check (open at self)") in out


def test_replay_skips_other_log_lines_and_warns_about_records_it_cannot_decide(tmp_path, capsys):
    log = tmp_path / "stderr.log"
    record = {"event": "policy_decision", "request_id": "req-1", "token_uuid": "zzzzz-gj3su-aaaaaaaaaaaaaaa",
              "class": "untrusted", "is_admin": False, "method": "users.get", "target": "other",
              "effect": "deny", "rule": "default-deny"}  # an older line without is_active: an active user
    log.write_text("\n".join([
        "2026-12-04 17:00:00 INFO authserver serving on http://127.0.0.1:8000/",
        json.dumps(record),
        json.dumps({**record, "method": "users.steal"}),
        json.dumps({**record, "target": "own"}),
        json.dumps({**record, "effect": "allow", "rule": "everyone-reads-own-user", "target": "self"}),
    ]) + "\n")
    policy = tmp_path / "open.yaml"
    policy.write_text("extends: " + DEFAULT + "\nrules:\n  - id: untrusted-reads-users\n    description: x\n"
                      "    effect: allow\n    methods: [users.get]\n    classes: [untrusted]\n")
    code, out, _ = replay(capsys, log, "--policy", policy)
    assert code == 1
    assert f"{log}:2:1: req-1 token zzzzz-gj3su-aaaaaaaaaaaaaaa untrusted (is_admin=false, is_active=true) " \
           "users.get target other: recorded deny by default-deny → now allow by untrusted-reads-users" in out
    assert f"{log}:3:1: warning: cannot replay this decision: unknown method 'users.steal'" in out
    assert f"{log}:4:1: warning: cannot replay this decision: users.get has no target 'own'" in out
    assert "2 decisions replayed, 1 decided differently (1 now allowed, 0 now denied); 1 lines skipped" in out


def test_replay_of_a_missing_log_or_an_invalid_policy_exits_2(tmp_path, capsys):
    code, _, err = replay(capsys, tmp_path / "none.jsonl", "--policy", DEFAULT)
    assert code == 2 and "none.jsonl: cannot read" in err
    (tmp_path / "log.jsonl").write_text("")
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n")
    code, _, err = replay(capsys, tmp_path / "log.jsonl", "--policy", broken)
    assert code == 2 and err.startswith(f"{broken}:")


def test_the_candidate_reloads_like_the_active_policy_and_its_counts_restart(tmp_path):
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(f"extends: {ARVADOS}\n")
    app, client, actors = served(tmp_path, policy_shadow="candidate.yaml")
    try:
        untrusted = actors.token("untrusted")

        def read_itself() -> dict:
            assert client.simulate_get(f"{TOKENS}/{untrusted.token_uuid}", headers=untrusted.headers).status_code == 403
            return client.simulate_get("/_health").json["policy_shadow"]

        assert (read_itself()["disagreements"], read_itself()["disagreements"]) == (1, 2)
        candidate.write_text(f"extends: {DEFAULT}\n")  # the candidate now agrees with the active policy
        assert app.services.shadow.reloader.check()
        shadow = read_itself()
        assert (shadow["decisions"], shadow["disagreements"], shadow["last_error"]) == (1, 0, None)
        candidate.write_text("rules: [\n")  # a broken edit is refused; the last good candidate stays
        assert not app.services.shadow.reloader.check()
        shadow = read_itself()
        assert shadow["disagreements"] == 0 and shadow["decisions"] == 2
        assert shadow["last_error"][0].startswith(f"{candidate}:") and shadow["last_error_at"].endswith("Z")
    finally:
        app.services.close()


def test_a_served_candidate_is_compared_over_http_and_reloaded_on_sighup(tmp_path):
    """`authserver serve` starts the candidate's watcher and SIGHUP reloads it, as for the active policy."""
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(f"extends: {ARVADOS}\n")
    server = LiveServer(tmp_path, policy_shadow="candidate.yaml").start()
    try:
        untrusted = server.actors.token("untrusted")
        url = server.url(f"{TOKENS}/{untrusted.token_uuid}")
        assert requests.get(url, headers=untrusted.headers, timeout=5).status_code == 403
        health = requests.get(server.url("/_health"), timeout=5).json()["policy_shadow"]
        assert (health["decisions"], health["disagreements"]) == (1, 1)
        first_digest = health["digest"]
        candidate.write_text(f"extends: {DEFAULT}\n")
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while requests.get(server.url("/_health"), timeout=5).json()["policy_shadow"]["digest"] == first_digest:
            assert time.monotonic() < deadline, "the candidate was not reloaded"
            time.sleep(0.05)
        assert requests.get(url, headers=untrusted.headers, timeout=5).status_code == 403
        health = requests.get(server.url("/_health"), timeout=5).json()["policy_shadow"]
        assert (health["decisions"], health["disagreements"]) == (1, 0)
        assert '"event":"policy_shadow_disagreement"' in server.log_text()  # the decision log is stderr here
        assert untrusted.secret not in server.log_text()
    finally:
        server.stop()
