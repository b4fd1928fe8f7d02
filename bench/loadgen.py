"""wrk, driven with bench/scenario.lua: one scenario against one server, parsed into a `Run`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).resolve().parent / "scenario.lua"
WRK_GRACE_SECONDS = 15  # wrk stops itself after its duration; this only bounds a wedged one


@dataclass(frozen=True)
class Load:
    """The same for every server in a comparison: connections, wrk threads, seconds."""

    connections: int
    threads: int
    seconds: float


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    expect: int
    authorization: str | None = None
    body: str | None = None
    content_type: str | None = None


@dataclass
class Run:
    requests: int
    duration_us: int
    unexpected_status: int
    first_unexpected_status: int
    socket_errors: int
    p50_us: int
    p90_us: int
    p99_us: int
    mean_us: float
    max_us: int

    @property
    def per_second(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def errors(self) -> int:
        return self.unexpected_status + self.socket_errors

    def as_dict(self) -> dict:
        return {**asdict(self), "per_second": round(self.per_second, 1), "errors": self.errors}


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages when missing (the bench runs as root here)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: installing it with apt-get (Debian package `wrk`)", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is still missing after apt-get install wrk")
    return found


def run_wrk(base_url: str, request: Request, load: Load) -> Run:
    env = {
        **os.environ,
        "BENCH_METHOD": request.method,
        "BENCH_EXPECT": str(request.expect),
        "BENCH_BODY": request.body or "",
        "BENCH_CONTENT_TYPE": request.content_type or "",
        # wrk reads the token from its environment, so it never appears on a command line (ps shows those).
        "BENCH_AUTHORIZATION": f"Bearer {request.authorization}" if request.authorization else "",
    }
    argv = [ensure_wrk(), "--latency", "-t", str(load.threads), "-c", str(load.connections),
            "-d", f"{load.seconds}s", "--timeout", "5s", "-s", str(LUA_SCRIPT), base_url + request.path]
    completed = subprocess.run(argv, env=env, capture_output=True, text=True,
                               timeout=load.seconds + WRK_GRACE_SECONDS)
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            raw = json.loads(line[len("BENCH_RESULT "):])
            return Run(
                requests=raw["requests"],
                duration_us=raw["duration_us"],
                unexpected_status=raw["unexpected_status"],
                first_unexpected_status=raw["first_unexpected_status"],
                socket_errors=raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"],
                p50_us=raw["p50_us"],
                p90_us=raw["p90_us"],
                p99_us=raw["p99_us"],
                mean_us=raw["mean_us"],
                max_us=raw["max_us"],
            )
    raise RuntimeError(f"wrk gave no result (exit {completed.returncode}): {completed.stderr.strip()[:500]}")
