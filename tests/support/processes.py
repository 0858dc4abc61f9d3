"""Child processes for tests: free ports, waiting, and real Redis, PostgreSQL and livekit-server."""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def when_quiet(get: Callable[[], list[Any]], quiet_s: float = 3.0, timeout: float = 60) -> list[Any]:
    """What `get()` returns once it has been non-empty and unchanged in length for `quiet_s`."""
    deadline = time.monotonic() + timeout
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        items = get()
        if len(items) != count:
            count, since = len(items), time.monotonic()
        elif items and time.monotonic() - since >= quiet_s:
            return items
        time.sleep(0.1)
    raise AssertionError(f"still changing after {timeout:.0f} s")


@dataclass
class Proc:
    """A child process with its log file; `stop()` ends its whole process group."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            os.killpg(self.popen.pid, sig)
            self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def start(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Proc:
    log = log_dir / f"{name}-{int(time.time() * 1000)}.log"
    with open(log, "wb") as fh:
        p = subprocess.Popen(args, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    return Proc(name, p, log)


REDIS_PASSWORD = "lt-test-" + secrets.token_hex(8)  # the tests' Redis requires it, as a deployment's should


def start_redis(log_dir: Path, port: int | None = None) -> tuple[Proc, str]:
    """A Redis on loopback that keeps nothing on disk (a restart loses every key and queue) and
    requires a password (in the URL returned); `port` to start it again where it was."""
    port = port or free_port()
    proc = start("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no", "--requirepass", REDIS_PASSWORD],
                 dict(os.environ), log_dir)

    def up() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(f"AUTH {REDIS_PASSWORD}\r\nPING\r\n".encode())
                got = b""
                while got.count(b"\r\n") < 2:
                    chunk = s.recv(64)
                    if not chunk:
                        return False
                    got += chunk
                return got == b"+OK\r\n+PONG\r\n"
        except OSError:
            return False

    wait_until(up, 10, "redis to answer")
    return proc, f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"


PG_BIN = Path("/usr/lib/postgresql/15/bin")


def start_postgres(log_dir: Path) -> tuple[Proc, str, Path]:
    """A throwaway PostgreSQL cluster on loopback, run as the `postgres` system user."""
    data = Path(tempfile.mkdtemp(prefix="lt-pg-"))
    shutil.chown(data, "postgres", "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run(as_pg + [str(PG_BIN / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U",
                            "postgres"], check=True, capture_output=True)
    port = free_port()
    proc = start("postgres", as_pg + [str(PG_BIN / "postgres"), "-D", str(data / "db"), "-p",
                                      str(port), "-h", "127.0.0.1", "-k", str(data)],
                 dict(os.environ), log_dir)
    wait_until(lambda: subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(port)],
                                      capture_output=True).returncode == 0, 30, "postgres")
    return proc, f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres", data


LIVEKIT_BIN = ROOT / "bin" / "livekit-server"


def start_livekit(log_dir: Path) -> tuple[Proc, dict[str, str]]:
    """A LiveKit server on loopback with throwaway keys; returns it and the env the app needs."""
    port, udp = free_port(), free_port()
    key, secret = "testkey", "test-secret-" + "x" * 32
    # The shipped configuration (what `make run` uses), on ports of this test run's own.
    config = (ROOT / "livekit.yaml").read_text()
    for line, value in (("port: 7880", f"port: {port}"),
                        ("  port_range_start: 50000", f"  port_range_start: {udp}"),
                        ("  port_range_end: 50200", f"  port_range_end: {udp + 20}")):
        assert line in config, line
        config = config.replace(line, value)
    env = dict(os.environ, LIVEKIT_KEYS=f"{key}: {secret}")
    proc = start("livekit", [str(LIVEKIT_BIN), "--config-body", config], env, log_dir)

    def up() -> bool:
        if not proc.alive():
            raise AssertionError(f"livekit-server exited:\n{proc.tail()}")
        try:
            return requests.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_until(up, 30, "livekit-server")
    return proc, {"LIVEKIT_URL": f"ws://127.0.0.1:{port}", "LIVEKIT_API_KEY": key,
                  "LIVEKIT_API_SECRET": secret}
