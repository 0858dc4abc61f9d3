"""Apertium APY as a managed child process of whichever process translates (a worker, the web
process when embedded): started through its launcher (apy_launcher.py: loopback only, ends with
its parent), waited for, its common directions pre-loaded and kept warm, watched and restarted
when it dies or stops answering. The translator over it is apertium.py.

APY keeps each language direction loaded in memory once used (18–24 ms a sentence warm, 0.1–2.6 s
cold, ~240 MB each), so the directions between the common languages are pre-loaded at start and
the rest load on first use and unload after `idle_s` unused.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from engines.children import child_env
from engines.errors import EngineConnectionError, EngineStatusError, EngineTimeoutError
from engines.languages import FROM_ISO3, FROM_TARGET_CODE, ISO3, TARGET_CODE
from engines.translation.routes import DEFAULT_PAIRS_PATH

logger = logging.getLogger(__name__)

# Pre-loaded by default (APERTIUM_PRELOAD=common): the directions among these.
COMMON = ("en", "es", "fr", "ca", "pt")
LAUNCHER = Path(__file__).with_name("apy_launcher.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ApertiumConfig:
    """How APY is run: where the installed pairs are, the Python that has Debian's apertium_apy,
    the directions pre-loaded at start (`ApyProcess.preload_pairs`) and how long an unused one
    stays loaded. The service fills it from its Apertium settings."""

    pairs_path: str = DEFAULT_PAIRS_PATH
    python: str = "/usr/bin/python3"
    preload: str = "common"
    idle_s: float = 1800.0


class ApyProcess:
    """Owns one APY child: start, readiness, pre-loading, watchdog and restart."""

    def __init__(self, pairs_path: str = ApertiumConfig.pairs_path,
                 python: str = ApertiumConfig.python, preload: str = ApertiumConfig.preload,
                 start_timeout_s: float = 30.0, check_interval_s: float = 2.0,
                 idle_s: float = ApertiumConfig.idle_s) -> None:
        self.pairs_path = pairs_path
        self.preload_spec = preload
        self.python = python
        self.start_timeout_s = start_timeout_s
        self.check_interval_s = check_interval_s
        # APY shuts a direction down after `idle_s` unused (each holds ~240 MB); the pre-loaded
        # ones are kept warm by the watchdog, so only rarely used languages pay a cold start.
        self.idle_s = idle_s
        self._warmed_at = 0.0
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.restarts = 0
        self.pairs: set[tuple[str, str]] = set()
        self.last_error = ""
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._http = httpx.Client(limits=httpx.Limits(max_keepalive_connections=16))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start APY (if not running), wait until it answers, pre-load, start the watchdog."""
        with self._lock:
            if self.alive():
                return
            self._spawn()
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, name="apy-watchdog", daemon=True)
            self._watchdog.start()

    def _spawn(self) -> None:
        if not os.path.isdir(self.pairs_path):
            raise EngineConnectionError(
                f"Apertium pairs not found at {self.pairs_path}: install the Debian packages "
                "apertium-apy and apertium-eng-spa (see `make setup`)", engine="local",
                retryable=False)
        self.port = _free_port()
        args = [self.python, str(LAUNCHER), "-p", str(self.port), "-n", "0", "-j", "1",
                "-m", str(max(1, int(self.idle_s))),
                "-l", "/nonexistent-langnames.db", self.pairs_path]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True,
                                     env=child_env())
        self._wait_ready()
        self._warm()
        logger.info("apertium apy ready", extra={"pid": self.proc.pid, "port": self.port,
                                                  "pairs": len(self.pairs), "restarts": self.restarts})

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise EngineConnectionError("apertium-apy exited during start-up", engine="local")
            try:
                r = self._http.get(self.base_url + "/listPairs", timeout=1.0)
                self.pairs = {(p["sourceLanguage"], p["targetLanguage"])
                              for p in r.json()["responseData"]}
                return
            except (httpx.HTTPError, ValueError, KeyError):
                time.sleep(0.1)
        raise EngineTimeoutError("apertium-apy did not answer within "
                                 f"{self.start_timeout_s:.0f} s", engine="local")

    def preload_pairs(self) -> list[tuple[str, str]]:
        """The directions to load at start: "common" (among `COMMON`), "all" (between known
        languages), "none", or "en-es,…"."""
        spec = self.preload_spec.strip().lower()
        if spec == "none":
            return []
        if spec in ("all", "common"):
            among = set(COMMON) if spec == "common" else set(ISO3)
            return sorted(p for p in self.pairs
                          if FROM_ISO3.get(p[0]) in among and FROM_TARGET_CODE.get(p[1]) in among)
        wanted = set()
        for item in filter(None, (s.strip() for s in spec.split(","))):
            src, _, dst = item.partition("-")
            wanted.add((ISO3.get(src, src), TARGET_CODE.get(dst, dst)))
        return sorted(wanted & self.pairs)

    def _warm(self) -> None:
        wanted = self.preload_pairs()

        def one(pair: tuple[str, str]) -> None:
            try:
                self.request(pair, "Hello.", timeout=60.0)
            except Exception:  # warm-up is best effort; the first real request retries
                logger.warning("apertium warm-up failed", exc_info=True, extra={"pair": pair})

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(one, wanted))
        self._warmed_at = time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def restart(self) -> None:
        """Kill whatever is left of APY and start a fresh one."""
        with self._lock:
            self.stop_process()
            self.restarts += 1
            logger.warning("restarting apertium apy", extra={"restarts": self.restarts})
            self._spawn()

    def ensure(self) -> None:
        """Restart APY if it is not running."""
        with self._lock:
            if not self.alive():
                self.restart()

    def recover(self) -> None:
        """A request was refused: APY is dying, dead or wedged. Give a dying process a moment to
        be reaped (its socket closes before it exits), then restart unless it answers again."""
        with self._lock:
            if self.proc is not None and self.alive():
                try:
                    self.proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
            if not self.alive() or not self._ping():
                self.restart()

    def _ping(self) -> bool:
        try:
            return self._http.get(self.base_url + "/listPairs", timeout=3.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _watch(self) -> None:
        misses = 0
        while not self._stop.wait(self.check_interval_s):
            try:
                if not self.alive():
                    self.ensure()
                    misses = 0
                    continue
                misses = 0 if self._ping() else misses + 1
                if misses == 0 and time.monotonic() - self._warmed_at > self.idle_s / 3:
                    self._warm()
                if misses >= 3:
                    self.last_error = "apy stopped answering"
                    self.restart()
                    misses = 0
            except Exception as exc:
                self.last_error = str(exc)
                logger.exception("apertium watchdog could not restart apy")

    def request(self, pair: tuple[str, str], text: str, timeout: float = 10.0) -> str:
        """One APY translation over HTTP POST (the text never appears in a URL or access log)."""
        try:
            r = self._http.post(self.base_url + "/translate", timeout=timeout,
                           data={"langpair": f"{pair[0]}|{pair[1]}", "q": text, "markUnknown": "no"})
        except httpx.TimeoutException as exc:
            raise EngineTimeoutError("apertium-apy timed out", engine="local") from exc
        except httpx.TransportError as exc:
            raise EngineConnectionError("apertium-apy is not reachable", engine="local") from exc
        try:
            body = r.json()
        except ValueError as exc:
            raise EngineStatusError("apertium-apy sent no JSON", status=r.status_code,
                                    engine="local") from exc
        if r.status_code != 200 or body.get("responseStatus") != 200:
            raise EngineStatusError(f"apertium-apy answered {r.status_code}: "
                                    f"{body.get('message') or body.get('explanation') or ''}",
                                    status=r.status_code, engine="local")
        return str(body["responseData"]["translatedText"])

    def stop_process(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self.stop_process()
