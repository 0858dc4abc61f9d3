"""The service under test as processes: environment, migrations, web and Celery workers."""
from __future__ import annotations

import os
import subprocess
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support.processes import PY, ROOT, Proc, free_port, start, wait_until

# The operator's token every service under test is given (HEALTH_TOKEN): /health's details.
HEALTH_TOKEN = "test-health-token"
OPERATOR = {"Authorization": f"Bearer {HEALTH_TOKEN}"}


def health(url: str, timeout: float = 5) -> dict[str, Any]:
    """What /health tells the operator (every part's state)."""
    return dict(requests.get(url + "/health", headers=OPERATOR, timeout=timeout).json())


@dataclass
class Service:
    """The app under test: its URL, environment and processes."""

    url: str
    env: dict[str, str]
    log_dir: Path
    procs: list[Proc] = field(default_factory=list)

    def health(self) -> dict[str, Any]:
        return health(self.url)

    def transcript(self, payload: dict[str, Any]) -> None:
        """Post what the LiveKit agent posts for a speaker (signed, as agent/bridge_client.py
        does) to the bridge, which must take it."""
        import json
        import time

        from app.bridge import sign
        body = json.dumps(payload).encode()
        stamp = str(int(time.time()))
        key = (Path(self.env["VAR_DIR"]) / "bridge.key").read_text().strip()
        r = requests.post(self.url + "/internal/transcripts", data=body, timeout=10,
                          headers={"X-LT-Timestamp": stamp, "X-LT-Signature": sign(key, stamp, body),
                                   "Content-Type": "application/json"})
        assert r.status_code == 202, r.text


def apy_pid(url: str) -> int:
    """The pid of the Apertium APY the service at `url` (embedded) or its worker runs."""
    return int(health(url)["engines"]["translation"]["local"]["pid"])


def base_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(VAR_DIR=str(var_dir), SECRET_KEY="test-secret-" + var_dir.name, LOG_LEVEL="INFO",
               HEALTH_TOKEN=HEALTH_TOKEN,
               # Services of one test run may share its LiveKit server: each its own agent.
               LIVEKIT_AGENT_NAME="lt-" + var_dir.name,
               SPEECH_AUTOSTART=extra.pop("SPEECH_AUTOSTART", "0"),
               DISCONNECT_GRACE_S=extra.pop("DISCONNECT_GRACE_S", "1"),
               # Every test runs from 127.0.0.1: limits 50 times the shipped ones (the tests of
               # the limits themselves say RATE_LIMIT_SCALE=1).
               RATE_LIMIT_SCALE=extra.pop("RATE_LIMIT_SCALE", "50"),
               # Tests choose premium engines against the fakes with no budget set (core.premium's
               # default offers them only once one is; its own tests say otherwise).
               PREMIUM_FOR_USERS=extra.pop("PREMIUM_FOR_USERS", "1"),
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
            h = health(url, timeout=2)
        except (requests.RequestException, ValueError):
            return False
        return h.get("status") == "ok" or (not need_engine and h.get("database") == "ok")

    wait_until(ok, timeout, f"{url}/health to say ok")


def start_worker(env: dict[str, str], log_dir: Path, name: str = "worker") -> Proc:
    return start(name, [PY, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool=threads",
                        "--concurrency=4", "--loglevel=INFO", "-n", f"{name}@%h",
                        "--without-gossip", "--without-mingle"], env, log_dir)




@contextmanager
def embedded_service(env: dict[str, str], log_dir: Path) -> Iterator[Service]:
    """The whole service on the embedded default, as a process: migrated, started, healthy;
    stopped on the way out."""
    migrate(env)
    web = start_web(env, log_dir)
    try:
        wait_healthy(web.url, web)  # type: ignore[attr-defined]
        yield Service(web.url, env, log_dir, [web])  # type: ignore[attr-defined]
    finally:
        web.stop()


class ServicePool:
    """Running services that tests asking for the same configuration share, as users share one
    deployment: each test makes its own users and rooms. At most `size` are kept running (the
    least recently used is stopped); one that is no longer healthy is replaced."""

    def __init__(self, log_dir: Path, new_dir: Callable[[], Path], size: int = 3) -> None:
        self.log_dir, self.new_dir, self.size = log_dir, new_dir, size
        self.running: OrderedDict[Hashable, tuple[Service, ExitStack]] = OrderedDict()

    def get(self, key: Hashable, env_for: Callable[[Path], dict[str, str]]) -> Service:
        if key in self.running:
            svc, stack = self.running.pop(key)
            if self._still_healthy(svc):
                self.running[key] = (svc, stack)
                return svc
            stack.close()
        while len(self.running) >= self.size:
            self.running.popitem(last=False)[1][1].close()
        stack = ExitStack()
        svc = stack.enter_context(embedded_service(env_for(self.new_dir()), self.log_dir))
        self.running[key] = (svc, stack)
        return svc

    @staticmethod
    def _still_healthy(svc: Service) -> bool:
        if not all(p.alive() for p in svc.procs):
            return False
        try:
            wait_healthy(svc.url, svc.procs[0], timeout=30)
        except AssertionError:
            return False
        return True

    def close(self) -> None:
        while self.running:
            self.running.popitem()[1][1].close()


@contextmanager
def two_web_processes(var_dir: Path, log_dir: Path, redis_url: str, *, speech: bool = False,
                      **extra: str) -> Iterator[tuple[Proc, Proc]]:
    """Distributed, as on two hosts: two web processes and a Celery worker over a real Redis
    (emptied first), and with `speech` a speech process of their own (SPEECH_MANAGED=0); both
    web processes healthy. Everything stopped on the way out."""
    import redis as redis_lib
    redis_lib.Redis.from_url(redis_url).flushall()
    env = base_env(var_dir, REDIS_URL=redis_url, **({"SPEECH_MANAGED": "0"} if speech else {}),
                   **extra)
    migrate(env)
    procs = [start_web(env, log_dir), start_web(env, log_dir), start_worker(env, log_dir)]
    if speech:
        procs.append(start("speech", [PY, "-m", "agent.speech_server"], env, log_dir))
    try:
        for web in procs[:2]:
            wait_healthy(web.url, web, timeout=120)  # type: ignore[attr-defined]
        yield procs[0], procs[1]
    finally:
        for p in procs:
            p.stop()


def service_for(request: Any, tmp_path: Path, log_dir: Path,
                **extra: str) -> Iterator[Service]:
    """The whole service on the embedded default with `extra` in its environment, and what the
    test's markers add: `livekit` a real LiveKit server, `env(...)` more environment. Shared with
    every test that asks for the same (fresh users and rooms make tests independent), unless the
    test is marked `own_service` (it kills, stops or counts what only it did)."""
    if request.node.get_closest_marker("livekit"):
        extra.update(request.getfixturevalue("livekit_env"))
    marker = request.node.get_closest_marker("env")
    extra.update(marker.kwargs if marker else {})
    if request.node.get_closest_marker("own_service"):
        with embedded_service(base_env(tmp_path, **extra), log_dir) as svc:
            yield svc
        return
    pool: ServicePool = request.getfixturevalue("services")
    yield pool.get(tuple(sorted(extra.items())), lambda var_dir: base_env(var_dir, **extra))
