"""Runs Apertium APY for engines/providers/local/apy.py: `python3 apy_launcher.py <apy arguments>`,
with the Python that has Debian's apertium_apy (not the service's virtualenv; hence run by path,
importing only the standard library, tornado, apertium_apy and engines.children).

Two things APY cannot do itself: it binds every interface and has no option to change that, so
its HTTP server is pinned to loopback here; and it must end with the process that started it
(engines.children: its whole process group, APY and its pipelines, within half a second), so a
SIGKILLed worker never leaves an orphan holding gigabytes of language data.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def _loopback_only() -> None:
    """Every HTTP server tornado binds, bound to 127.0.0.1 whatever address it is given."""
    import tornado.httpserver

    bind = tornado.httpserver.HTTPServer.bind

    def loopback_bind(self: Any, port: int, address: str | None = None, *a: Any, **kw: Any) -> None:
        bind(self, port, "127.0.0.1", *a, **kw)

    tornado.httpserver.HTTPServer.bind = loopback_bind  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository: engines.children
    from engines.children import die_with_parent
    die_with_parent()
    _loopback_only()
    from apertium_apy.apy import main as apy_main
    sys.argv = ["apertium-apy", *argv]
    apy_main()


if __name__ == "__main__":
    main(sys.argv[1:])
