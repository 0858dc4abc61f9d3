"""integration: the managed Apertium APY process under a Celery worker's threads: restarted from a
thread that then ends, it stays up (no restart storm); its parent killed, it goes too."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from engines.providers.local.apertium import ApertiumTranslator, ApyProcess
from tests.support import ROOT, wait_until

pytestmark = pytest.mark.integration

PAIRS = "en-es,es-en"


def test_apy_restarted_from_a_short_lived_thread_outlives_that_thread() -> None:
    t = ApertiumTranslator(ApyProcess(preload=PAIRS))
    t.start()
    try:
        os.killpg(t.apy.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
        t.apy.proc.wait(5)  # type: ignore[union-attr]
        got: list[str] = []
        # A fan-out's group thread finds it dead, restarts it, translates, and ends.
        worker = threading.Thread(target=lambda: got.append(
            t.translate("The weather is nice today.", "en", "es").text))
        worker.start()
        worker.join(60)
        assert got == ["El tiempo es bueno hoy."] and t.apy.restarts == 1
        time.sleep(2)  # the thread that started it is gone
        assert t.apy.alive(), "APY died with the thread that restarted it"
        assert t.translate("Good morning.", "en", "es").text == "Buenos días."
        assert t.apy.restarts == 1
    finally:
        t.close()


def test_apy_goes_when_its_parent_process_is_killed() -> None:
    script = ("import time; "
              "from engines.providers.local.apertium import ApertiumTranslator as A, ApyProcess; "
              f"t = A(ApyProcess(preload={PAIRS!r})); t.start(); print(t.apy.proc.pid, flush=True); "
              "time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert parent.stdout is not None
        apy = int(parent.stdout.readline())
        assert psutil.pid_exists(apy)
        parent.kill()
        parent.wait(5)
        wait_until(lambda: not psutil.pid_exists(apy) or psutil.Process(apy).status() == "zombie",
                   5, "APY to go with its parent")
    finally:
        if parent.poll() is None:
            parent.kill()
