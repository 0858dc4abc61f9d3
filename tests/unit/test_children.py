"""unit: engines.children, how the speech process and Apertium APY end with the process that started
them. Real processes: a parent started here starts a child (from a thread that then ends, as a
worker's fan-out thread restarts APY), and is SIGKILLed; the child must go, its group with it when
it leads one, and must not go while the parent lives."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.support import ROOT, wait_until

pytestmark = pytest.mark.unit

# The child: watches its parent; when it leads a process group, starts a grandchild in it first.
CHILD = """
import subprocess, sys, time
from engines.children import die_with_parent
if sys.argv[1] == "group":
    print(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]).pid, flush=True)
else:
    print(0, flush=True)
assert die_with_parent(0.1)
time.sleep(60)
"""

# The parent: starts the child from a thread that ends at once, reports its pid, then waits.
PARENT = """
import subprocess, sys, threading, time
from engines.children import child_env
out = []
def start():
    out.append(subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], env=child_env(),
                                start_new_session=sys.argv[2] == "group", stdout=subprocess.PIPE))
t = threading.Thread(target=start); t.start(); t.join()
child = out[0]
print(child.pid, child.stdout.readline().decode().strip(), flush=True)
time.sleep(60)
"""


def _gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("mode", ["group", "alone"])
def test_a_child_outlives_the_thread_that_started_it_and_goes_with_its_parent(mode: str) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD, mode], cwd=ROOT,
                              stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert parent.stdout is not None
        child, grandchild = (int(x) for x in parent.stdout.readline().split())
        time.sleep(0.5)  # the thread that started it ended long ago: PR_SET_PDEATHSIG would have fired
        assert not _gone(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(5)
        wait_until(lambda: _gone(child), 5, "the child to go with its parent")
        if grandchild:
            wait_until(lambda: _gone(grandchild), 5, "the child's process group to go with it")
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in (child, grandchild) if "child" in locals() else ():
            if pid and not _gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_without_a_parent_named_nothing_is_watched() -> None:
    env = {k: v for k, v in os.environ.items() if k != "LT_PARENT_PID"}
    out = subprocess.run([sys.executable, "-c", "from engines.children import die_with_parent; "
                          "print(die_with_parent())"], cwd=ROOT, env=dict(env, PYTHONPATH=str(ROOT)),
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "False"
