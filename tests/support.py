"""Test helpers: free ports, real service processes, and Socket.IO peers that record events."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import socketio

ROOT = Path(__file__).resolve().parent.parent
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


def start_redis(log_dir: Path) -> tuple[Proc, str]:
    port = free_port()
    proc = start("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no"], dict(os.environ), log_dir)

    def up() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_until(up, 10, "redis to answer")
    return proc, f"redis://127.0.0.1:{port}/0"


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


@dataclass
class Service:
    """The app under test: its URL, environment and processes."""

    url: str
    env: dict[str, str]
    log_dir: Path
    procs: list[Proc] = field(default_factory=list)

    def health(self) -> dict[str, Any]:
        return dict(requests.get(self.url + "/health", timeout=5).json())


def base_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(VAR_DIR=str(var_dir), SECRET_KEY="test-secret-" + var_dir.name, LOG_LEVEL="INFO",
               SPEECH_AUTOSTART=extra.pop("SPEECH_AUTOSTART", "0"),
               DISCONNECT_GRACE_S=extra.pop("DISCONNECT_GRACE_S", "1"),
               WHISPER_CACHE_DIR=str(ROOT / "var" / "test-models"),
               APERTIUM_PRELOAD=extra.pop("APERTIUM_PRELOAD", "en-es,es-en,es-fr,fr-es,en-ca,ca-fr"))
    env.update(extra)
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run([PY, "-m", "app.migrate"], cwd=ROOT, env=env, check=True, capture_output=True)


def start_web(env: dict[str, str], log_dir: Path, port: int | None = None) -> Proc:
    port = port or free_port()
    env = dict(env, PORT=str(port))
    proc = start("web", [PY, "-m", "app"], env, log_dir)
    proc.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    return proc


def wait_healthy(url: str, proc: Proc, timeout: float = 60, need_engine: bool = True) -> None:
    def ok() -> bool:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited:\n{proc.tail()}")
        try:
            h = requests.get(url + "/health", timeout=2).json()
        except (requests.RequestException, ValueError):
            return False
        return h.get("status") == "ok" or (not need_engine and h.get("database") == "ok")

    wait_until(ok, timeout, f"{url}/health to say ok")


def start_worker(env: dict[str, str], log_dir: Path, name: str = "worker") -> Proc:
    return start(name, [PY, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool=threads",
                        "--concurrency=4", "--loglevel=INFO", "-n", f"{name}@%h",
                        "--without-gossip", "--without-mingle"], env, log_dir)


class Peer:
    """A signed-in user with a real Socket.IO client that records every event it receives."""

    EVENTS = ("joined-room", "user-joined", "user-left", "recognized-speech", "translated-message",
              "interim-transcript", "tts-audio", "voice-session-ready", "voice-session-ended",
              "user-started-voice", "user-stopped-voice", "voice-presence",
              "solo-translated", "speech-error", "app-error", "translation-failed")

    def __init__(self, base_url: str, name: str, language: str,
                 session: dict[str, Any] | None = None) -> None:
        self.base_url = base_url
        if session is None:
            r = requests.post(base_url + "/api/session",
                              json={"displayName": name, "language": language}, timeout=10)
            assert r.status_code == 201, r.text
            session = r.json()
        body = session
        self.token: str = body["token"]
        self.user: dict[str, Any] = body["user"]
        self.events: list[tuple[str, Any, float]] = []
        self._cond = threading.Condition()
        self.sio = socketio.Client(reconnection=False)
        for ev in self.EVENTS:
            self.sio.on(ev, self._recorder(ev))

    def _recorder(self, ev: str) -> Callable[[Any], None]:
        def record(data: Any = None) -> None:
            with self._cond:
                self.events.append((ev, data, time.time() * 1000))
                self._cond.notify_all()
        return record

    @property
    def id(self) -> str:
        return str(self.user["id"])

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def connect(self) -> Peer:
        self.sio.connect(self.base_url, auth={"token": self.token}, transports=["websocket"],
                         wait_timeout=10)
        return self

    def call(self, event: str, data: Any = None, timeout: float = 10) -> Any:
        return self.sio.call(event, data, timeout=timeout)

    def create_room(self) -> str:
        r = requests.post(self.base_url + "/api/rooms", headers=self.headers(), timeout=10)
        assert r.status_code == 201, r.text
        return str(r.json()["code"])

    def join(self, code: str) -> dict[str, Any]:
        ack = self.call("join-room", code)
        assert ack["ok"], ack
        self.wait_for("joined-room")
        return dict(ack)

    def say(self, text: str, lang: str, **extra: Any) -> dict[str, Any]:
        ack = self.call("speech-transcript", {"transcript": text, "sourceLang": lang, **extra})
        return dict(ack)

    def got(self, event: str) -> list[Any]:
        with self._cond:
            return [d for e, d, _ in self.events if e == event]

    def wait_for(self, event: str, pred: Callable[[Any], bool] = lambda d: True,
                 timeout: float = 20, count: int = 1) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [d for e, d, _ in self.events if e == event and pred(d)]
                if len(hits) >= count:
                    return hits
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.user['displayName']}: wanted {count} {event}, got "
                                         f"{len(hits)}; events: {[e for e, _, _ in self.events]}")
                self._cond.wait(left)

    def again(self) -> Peer:
        """The same user on a new connection (a browser reconnecting), not yet connected."""
        return Peer(self.base_url, "", "", session={"token": self.token, "user": self.user})

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()


def room_with(base_url: str, peers: list[Peer], *people: tuple[str, str]) -> list[Peer]:
    """Sign in and connect one Peer per (name, language), all joined to a new room."""
    made = [Peer(base_url, name, lang).connect() for name, lang in people]
    peers += made
    code = made[0].create_room()
    for p in made:
        p.join(code)
    return made


LIVEKIT_BIN = ROOT / "bin" / "livekit-server"


def start_livekit(log_dir: Path) -> tuple[Proc, dict[str, str]]:
    """A LiveKit server on loopback with throwaway keys; returns it and the env the app needs."""
    port, tcp = free_port(), free_port()
    udp = free_port()
    key, secret = "testkey", "test-secret-" + "x" * 32
    config = (f"port: {port}\nbind_addresses: [127.0.0.1]\n"
              f"rtc: {{tcp_port: {tcp}, port_range_start: {udp}, port_range_end: {udp + 20}, "
              "use_external_ip: false, node_ip: 127.0.0.1}\nlogging: {level: info}\n")
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
