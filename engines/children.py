"""Child processes that must not outlive the process that started them: the speech process (started
by the embedded web process, app/speech_link.py) and Apertium APY (started by whichever process
translates, engines/providers/local/apy.py).

The parent starts the child with `child_env()`, which names the parent in LT_PARENT_PID; the child
calls `die_with_parent()` first thing, which watches for the parent to go and then kills the child
at once — its whole process group when it leads one (APY and the pipelines it runs), else itself.

Not PR_SET_PDEATHSIG: that fires when the *thread* that started the child ends, not the process,
and a child started from a short-lived thread (a worker's fan-out thread restarting APY) would be
killed moments later, over and over. Watching the parent's pid is what is left: it takes up to
`interval_s` to notice.
"""
from __future__ import annotations

import os
import signal
import threading
import time

PARENT_ENV = "LT_PARENT_PID"


def child_env() -> dict[str, str]:
    """The environment for a child that must end with this process: this process's, naming it as
    the child's parent."""
    return dict(os.environ, **{PARENT_ENV: str(os.getpid())})


def die_with_parent(interval_s: float = 0.5) -> bool:
    """In a child started with `child_env()`: a daemon thread that kills this process (its group
    when it leads one) once its parent is gone. False (nothing watched) when no parent is named:
    a child started by hand, or by a supervisor that ends it on its own (systemd, Procfile)."""
    raw = os.environ.get(PARENT_ENV, "")
    if not raw.isdigit():
        return False
    parent = int(raw)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        if os.getpgid(0) == os.getpid():
            os.killpg(0, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
    return True
