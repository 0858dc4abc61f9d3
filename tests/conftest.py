"""Shared fixtures: real Redis, PostgreSQL, the web server and Celery workers as processes."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import support

ARTIFACTS = support.ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def log_dir() -> Path:
    """Where the processes a test run starts write their logs: test-artifacts/, a folder per
    pytest-xdist worker when the run is split."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    path = ARTIFACTS / worker if worker else ARTIFACTS
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def redis_url(log_dir: Path) -> Iterator[str]:
    proc, url = support.start_redis(log_dir)
    yield url
    proc.stop()


@pytest.fixture(scope="session")
def postgres_url(log_dir: Path) -> Iterator[str]:
    proc, url, _ = support.start_postgres(log_dir)
    yield url
    proc.stop()


@pytest.fixture(scope="session")
def livekit_env(log_dir: Path) -> Iterator[dict[str, str]]:
    """A real livekit-server (built by set-up into bin/) on loopback."""
    proc, env = support.start_livekit(log_dir)
    yield env
    proc.stop()


@pytest.fixture(scope="session")
def services(log_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.ServicePool]:
    """The running services tests share (see `embedded`)."""
    pool = support.ServicePool(log_dir, lambda: tmp_path_factory.mktemp("service"))
    yield pool
    pool.close()


@pytest.fixture
def embedded(request: pytest.FixtureRequest, tmp_path: Path,
             log_dir: Path) -> Iterator[support.Service]:
    """The whole service on the embedded default: one web process (with its speech process as a
    child, started at once for tests marked `speech`), SQLite, in-process Celery."""
    speech = request.node.get_closest_marker("speech") is not None
    yield from support.service_for(request, tmp_path, log_dir, SPEECH_AUTOSTART="1" if speech else "0")


@pytest.fixture
def distributed(tmp_path: Path, log_dir: Path, redis_url: str) -> Iterator[support.Service]:
    """Web server and `celery worker` as separate processes over a real Redis."""
    import redis as redis_lib
    redis_lib.Redis.from_url(redis_url).flushall()
    env = support.base_env(tmp_path, REDIS_URL=redis_url, CELERY_VISIBILITY_TIMEOUT="4",
                           FANOUT_LOCK_TTL_MS="3000")
    support.migrate(env)
    web = support.start_web(env, log_dir)
    worker = support.start_worker(env, log_dir)
    svc = support.Service(web.url, env, log_dir, [web, worker])  # type: ignore[attr-defined]
    try:
        support.wait_healthy(web.url, web, timeout=90)  # type: ignore[attr-defined]
        yield svc
    finally:
        for p in svc.procs:
            p.stop()


@pytest.fixture
def lk_peers() -> Iterator[list[Any]]:
    """LiveKit participants a test made (tests.support.livekit_client.LkParticipant), closed after."""
    made: list[Any] = []
    yield made
    for p in made:
        p.close()


@pytest.fixture
def peers() -> Iterator[list[support.Peer]]:
    made: list[support.Peer] = []
    yield made
    for p in made:
        p.close()


# What `make test-fast` leaves out: tests that need a service process (Redis, PostgreSQL, LiveKit,
# the app as processes) or are not marked `unit`.
SERVICE_FIXTURES = {"redis_url", "postgres_url", "livekit_env", "services", "embedded", "distributed",
                    "grok_service", "google_service", "restartable_redis"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fast", action="store_true",
                     help="only unit tests that start no service (the edit loop: make test-fast)")


def _busy(item: pytest.Item) -> bool:
    """A test that keeps local Whisper busy: recognition through the service, a voice room's agent,
    or the decodes themselves. (The premium providers' tests recognise with their fakes; Whisper
    only takes over now and then.)"""
    if item.nodeid.startswith("tests/providers/"):
        return False
    return bool(item.get_closest_marker("speech") or item.get_closest_marker("livekit")
                or item.nodeid.startswith("tests/speech/"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.pluginmanager.hasplugin("xdist") and config.getoption("dist", "no") == "loadgroup":
        # Split over two workers (make test): the tests that keep Whisper busy all run on one of
        # them, one after another as before, so no two of them contend for the cores; the rest
        # (text, fan-out, faults, fakes, the page, units) run beside them on the other, a module
        # at a time so its module-wide fixtures are made once.
        for item in items:
            group = "speech" if _busy(item) else item.nodeid.split("::", 1)[0]
            item.add_marker(pytest.mark.xdist_group(group))
    if not config.getoption("--fast"):
        return
    keep, drop = [], []
    for item in items:
        needs = set(getattr(item, "fixturenames", ()))
        (keep if item.get_closest_marker("unit") and not needs & SERVICE_FIXTURES else drop).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep


# In a split run, what the worker that is not running a Whisper-busy test starts (and the test
# itself) runs at this niceness, so the speech tests beside it keep the cores they need to hold
# real time: the lighter work takes the cycles they leave.
LIGHT_NICE = int(os.environ.get("PYTEST_LIGHT_NICE", "10"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a test's fixtures are made, set the niceness of this worker and of every thread of
    every process it started (shared services too): 0 for a test that keeps Whisper busy,
    LIGHT_NICE for the rest. Only in a split run, and only where priority may be raised again
    (root, or CAP_SYS_NICE)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        _renice_tree(0 if _busy(item) else LIGHT_NICE)


def _renice_tree(nice: int) -> None:
    import psutil
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        try:
            for thread in proc.threads():
                os.setpriority(os.PRIO_PROCESS, thread.id, nice)
        except (psutil.Error, ProcessLookupError):
            continue  # it ended meanwhile
        except PermissionError:
            return


def pytest_report_header() -> str:
    return f"live-translator tests; CI={os.environ.get('CI', '')}"
