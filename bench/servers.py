"""Server processes for the benchmark: `authserver serve` and the bare baseline, on 127.0.0.1 only."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def request(port: int, method: str, path: str, *, headers: dict | None = None, body: bytes | None = None,
            timeout: float = 10) -> tuple[int, dict, bytes]:
    """One HTTP request to a local server: (status, headers with lower-case names, body)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    finally:
        connection.close()


class ServerProcess:
    """A server in a subprocess; `start()` returns once it answers HTTP, `stop()` ends exactly that process."""

    def __init__(self, name: str, argv: list[str], port: int, log_path: Path, cwd: Path):
        self.name = name
        self.argv = argv
        self.port = port
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> "ServerProcess":
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.cwd)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.log_path}")
            try:
                request(self.port, "GET", "/", timeout=1)
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {START_TIMEOUT_SECONDS} s; see {self.log_path}")

    def resident_bytes(self) -> int:
        """VmRSS of the server process, from /proc."""
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if hasattr(self, "_log"):
            self._log.close()


def authserver(config_path: Path, port: int, name: str = "authserver") -> ServerProcess:
    argv = [sys.executable, "-m", "authserver.cli", "--config", str(config_path), "serve"]
    return ServerProcess(name, argv, port, config_path.parent / "server.log", config_path.parent)


def baseline(config_path: Path, port: int, body_file: Path) -> ServerProcess:
    """The bare app, with the waitress settings of the same config (threads and all)."""
    argv = [sys.executable, "-m", "bench.baseline", "--config", str(config_path), "--port", str(port),
            "--body-file", str(body_file)]
    repo = Path(__file__).resolve().parent.parent
    return ServerProcess("baseline", argv, port, config_path.parent / "baseline.log", repo)
