"""`make bench` (`python -m bench`): every scenario, interleaved rounds, one table, bench/results.json.

BENCH_QUICK=1 runs a short smoke version (fewer, shorter rounds; 100,000 instead of 1,000,000 tokens).
BENCH_KEEP=1 keeps the scratch folder (databases, configs, server logs) and prints where it is.
BENCH_THREADS=N sets listen.threads (waitress's request threads) for every server, baseline included.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from . import decisions, fixtures, inprocess, servers
from authserver.config import DEFAULTS

from .loadgen import Load, Request, Run, ensure_wrk, run_wrk
from .report import evaluate, print_table

RESULTS_PATH = Path(__file__).resolve().parent / "results.json"
API = "/arvados/v1"
CURRENT = f"{API}/api_client_authorizations/current"


@dataclass(frozen=True)
class Settings:
    rounds: int
    seconds: float
    storm_rounds: int
    scale_rounds: int
    large_tokens: int
    small_tokens: int = 1_000
    load: Load = Load(connections=16, threads=1, seconds=4)
    create_load: Load = Load(connections=16, threads=1, seconds=10)
    login_clients: int = 4
    threads: int | None = None  # None: the config's default

    @classmethod
    def from_environment(cls) -> "Settings":
        threads = int(os.environ["BENCH_THREADS"]) if os.environ.get("BENCH_THREADS") else None
        if os.environ.get("BENCH_QUICK") == "1":
            return cls(rounds=2, seconds=2, storm_rounds=1, scale_rounds=2, large_tokens=100_000,
                       load=Load(16, 1, 2), create_load=Load(16, 1, 3), threads=threads)
        return cls(rounds=5, seconds=4, storm_rounds=3, scale_rounds=5, large_tokens=1_000_000, threads=threads)


def median_run(runs: list[Run]) -> dict:
    """Medians over rounds of each figure, and the errors summed (one error anywhere counts)."""
    return {
        "rounds": len(runs),
        "per_second": round(statistics.median(run.per_second for run in runs), 1),
        "p50_us": round(statistics.median(run.p50_us for run in runs)),
        "p90_us": round(statistics.median(run.p90_us for run in runs)),
        "p99_us": round(statistics.median(run.p99_us for run in runs)),
        "errors": sum(run.errors for run in runs),
        "requests": sum(run.requests for run in runs),
        "first_unexpected_status": next((run.first_unexpected_status for run in runs
                                         if run.first_unexpected_status), 0),
        "runs": [run.as_dict() for run in runs],
    }


def log(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def probe(port: int, request: Request) -> str | None:
    """None when the scenario's route answers as expected; else why it is not available (not faked)."""
    headers = {"Authorization": f"Bearer {request.authorization}"} if request.authorization else {}
    if request.content_type:
        headers["Content-Type"] = request.content_type
    status, _, _ = servers.request(port, request.method, request.path, headers=headers,
                                   body=request.body.encode() if request.body else None)
    if status == request.expect:
        return None
    if status in (404, 405):
        return f"not available: {request.method} {request.path} answers {status}"
    return f"not available: expected {request.expect}, got {status}"


def http_scenarios(callers: fixtures.Callers) -> dict[str, Request]:
    return {
        "GET current": Request("GET", CURRENT, 200, callers.trusted),
        "GET users/current": Request("GET", f"{API}/users/current", 200, callers.trusted),
        f"GET api_client_authorizations ({callers.trusted_token_count} tokens)":
            Request("GET", f"{API}/api_client_authorizations", 200, callers.trusted),
        "403 policy deny (untrusted lists tokens)": Request("GET", f"{API}/api_client_authorizations", 403,
                                                           callers.untrusted),
        "401 unknown token": Request("GET", CURRENT, 401, callers.unknown),
    }


def create_request(callers: fixtures.Callers) -> Request:
    body = json.dumps({"api_client_authorization": {"scopes": ["all"]}})
    return Request("POST", f"{API}/api_client_authorizations", 200, callers.trusted, body, "application/json")


UNCACHED_CURRENT = "GET current, no token cache (cache_seconds: 0)"


def measure_http(settings: Settings, work: Path, results: dict) -> None:
    """Baseline and authserver scenarios, interleaved; then token creation; then the login storm."""
    port, baseline_port = servers.free_port(), servers.free_port()
    config_path = fixtures.write_config(work / "main", port, threads=settings.threads)
    callers = fixtures.make_callers(config_path)
    server = servers.authserver(config_path, port)
    # The same database served by a second process with the token cache off (tokens.cache_seconds: 0),
    # measured in the same interleaved rounds: what the default cache buys.
    uncached_port = servers.free_port()
    uncached_config = fixtures.write_config(work / "main", uncached_port, threads=settings.threads,
                                            name="config-uncached.yaml", token_cache_seconds=0)
    uncached_server = servers.authserver(uncached_config, uncached_port, "authserver-uncached")
    baseline = None
    try:
        server.start()
        uncached_server.start()
        status, _, body = servers.request(port, "GET", CURRENT, headers={"Authorization": f"Bearer {callers.trusted}"})
        if status != 200:
            raise RuntimeError(f"GET current answers {status} on a fresh server")
        # The baseline returns exactly this object (this token's record), so both bodies have the same size.
        body_file = work / "main" / "baseline-body.json"
        body_file.write_bytes(body)
        body_file.chmod(0o600)
        baseline = servers.baseline(config_path, baseline_port, body_file).start()
        _, _, baseline_body = servers.request(baseline_port, "GET", CURRENT)
        results["body_bytes"] = {"authserver": len(body), "baseline": len(baseline_body)}

        scenarios = http_scenarios(callers)
        available = {}
        for name, request in scenarios.items():
            problem = probe(port, request)
            if problem:
                log(f"{name}: {problem}")
                results["scenarios"][name] = {"available": False, "reason": problem}
            else:
                available[name] = request
        lineup = [("baseline", baseline, Request("GET", CURRENT, 200))] + [
            (name, server, request) for name, request in available.items()]
        lineup.insert(2, (UNCACHED_CURRENT, uncached_server, scenarios["GET current"]))
        runs: dict[str, list[Run]] = {name: [] for name, _, _ in lineup}
        for round_index in range(settings.rounds):
            # Rotate the order each round so no scenario always runs first (or right after a slow one).
            shift = round_index % len(lineup)
            for name, target, request in lineup[shift:] + lineup[:shift]:
                runs[name].append(run_wrk(target.url, request, settings.load))
            log(f"round {round_index + 1}/{settings.rounds}: " + ", ".join(
                f"{name} {runs[name][-1].per_second:.0f}/s" for name, _, _ in lineup[:2]))
        results["baseline"] = median_run(runs.pop("baseline"))
        for name, scenario_runs in runs.items():
            results["scenarios"][name] = {"available": True, **median_run(scenario_runs)}

        log(f"token creation: {settings.create_load.connections} connections, {settings.create_load.seconds} s")
        create = create_request(callers)
        problem = probe(port, create)
        if problem:
            results["create"] = {"available": False, "reason": problem}
        else:
            results["create"] = {"available": True, **median_run([run_wrk(server.url, create, settings.create_load)])}

        measure_login_storm(settings, server, callers, results)
    finally:
        server.stop()
        uncached_server.stop()
        if baseline is not None:
            baseline.stop()
    log("app CPU per GET current, in-process (no web server)")
    results["app_cpu"] = inprocess.measure(config_path, callers.trusted, rounds=settings.rounds + 2,
                                           requests=1000 if settings.rounds < 5 else 3000)


def measure_login_storm(settings: Settings, server: servers.ServerProcess, callers: fixtures.Callers,
                        results: dict) -> None:
    """`current` idle, then while clients sign in over and over; interleaved rounds."""
    status, _, _ = servers.request(server.port, "GET", "/login?return_to=" + f"http://127.0.0.1:{server.port}/")
    if status != 200:
        results["login_storm"] = {"available": False, "reason": f"not available: GET /login answers {status}"}
        log(results["login_storm"]["reason"])
        return
    current = Request("GET", CURRENT, 200, callers.trusted)
    idle_runs, storm_runs, storms = [], [], []
    warmup_seconds = 1.0
    for round_index in range(settings.storm_rounds):
        idle_runs.append(run_wrk(server.url, current, settings.load))
        storm = subprocess.Popen(
            [sys.executable, "-m", "bench.login_storm", "--port", str(server.port),
             "--clients", str(settings.login_clients), "--seconds", str(settings.load.seconds + 2 * warmup_seconds)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
        storm.stdin.write(json.dumps({"email": callers.login_email, "password": callers.login_password}) + "\n")
        storm.stdin.close()
        time.sleep(warmup_seconds)  # let the sign-ins get going before measuring
        storm_runs.append(run_wrk(server.url, current, settings.load))
        storm.wait(timeout=settings.load.seconds + 60)  # the clients stop by themselves at their deadline
        storms.append(json.loads(storm.stdout.read().strip().splitlines()[-1]))
        storm.stdout.close()
        log(f"login storm round {round_index + 1}/{settings.storm_rounds}: idle p99 {idle_runs[-1].p99_us} us, "
            f"storm p99 {storm_runs[-1].p99_us} us, {storms[-1]['logins']} sign-ins")
    results["login_storm"] = {
        "available": True,
        "clients": settings.login_clients,
        "idle": median_run(idle_runs),
        "storm": median_run(storm_runs),
        "logins_per_second": round(statistics.median(s["logins"] / s["seconds"] for s in storms), 1),
        "login_failures": sum(s["failures"] for s in storms),
        "login_failure_statuses": [s["statuses"] for s in storms],
    }


def measure_scale(settings: Settings, work: Path, results: dict) -> None:
    """`current` and resident memory with a small and a large token table; both servers up, rounds interleaved."""
    worlds = {}
    for label, total in (("small", settings.small_tokens), ("large", settings.large_tokens)):
        port = servers.free_port()
        # Without the token cache: this measures the look-up in a table of this size, not a cache hit.
        config_path = fixtures.write_config(work / f"scale-{label}", port, threads=settings.threads,
                                            token_cache_seconds=0)
        callers = fixtures.make_callers(config_path)
        started = time.perf_counter()
        added = fixtures.seed_tokens(config_path, total)
        log(f"seeded {added:,} tokens ({fixtures.token_count(config_path):,} in all) in "
            f"{time.perf_counter() - started:.1f} s")
        worlds[label] = (config_path, callers, port, fixtures.token_count(config_path))
    processes = {}
    try:
        for label, (config_path, callers, port, _) in worlds.items():
            processes[label] = servers.authserver(config_path, port, f"authserver-{label}").start()
        runs = {label: [] for label in worlds}
        for round_index in range(settings.scale_rounds):
            order = list(worlds) if round_index % 2 == 0 else list(reversed(worlds))
            for label in order:
                request = Request("GET", CURRENT, 200, worlds[label][1].trusted)
                runs[label].append(run_wrk(processes[label].url, request, settings.load))
        for label, (_, _, _, count) in worlds.items():
            results["scale"][label] = {"tokens": count, "rss_bytes": processes[label].resident_bytes(),
                                       **median_run(runs[label])}
        log("scale: " + ", ".join(f"{results['scale'][label]['tokens']:,} tokens p50 "
                                  f"{results['scale'][label]['p50_us']} us" for label in worlds))
    finally:
        for process in processes.values():
            process.stop()


def wrk_version() -> str:
    completed = subprocess.run([ensure_wrk(), "--version"], capture_output=True, text=True)
    return (completed.stdout or completed.stderr).split(" [")[0].strip()


def main() -> int:
    settings = Settings.from_environment()
    ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="authserver-bench-"))
    started = time.perf_counter()
    results = {
        "started_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "quick": os.environ.get("BENCH_QUICK") == "1",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "falcon": version("falcon"),
            "waitress": version("waitress"),
            "wrk": wrk_version(),
        },
        "settings": {
            "rounds": settings.rounds, "load": settings.load.__dict__, "create_load": settings.create_load.__dict__,
            "storm_rounds": settings.storm_rounds, "scale_rounds": settings.scale_rounds,
            "login_clients": settings.login_clients,
            "threads": settings.threads or DEFAULTS["listen"]["threads"],
        },
        "scenarios": {},
        "scale": {},
    }
    try:
        log(f"HTTP scenarios: {settings.rounds} interleaved rounds of {settings.load.seconds} s, "
            f"{settings.load.connections} connections")
        measure_http(settings, work, results)
        log(f"database scale: {settings.small_tokens:,} and {settings.large_tokens:,} tokens")
        measure_scale(settings, work, results)
        log("policy decisions: authserver, pycasbin, cedarpy")
        results["decisions"] = decisions.benchmark(quick=settings.rounds < 5)
    finally:
        if os.environ.get("BENCH_KEEP") == "1":
            log(f"scratch folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["targets"] = evaluate(results)
    RESULTS_PATH.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    log(f"results written to {RESULTS_PATH.relative_to(Path.cwd()) if RESULTS_PATH.is_relative_to(Path.cwd()) else RESULTS_PATH}"
        f" ({results['seconds']:.0f} s)")
    return 0
