"""The embedded translation engine: Apertium, through the managed APY process of apy.py, with
pivot routing. Pairs that Apertium lacks (en↔fr, en→it) are routed through pivot languages, two
at most (the routes are worked out in translation.routes). A request that finds APY dead has it
restarted and is tried once more.
"""
from __future__ import annotations

import re
from typing import Any

from engines.errors import EngineConnectionError
from engines.languages import ISO3, TARGET_CODE
from engines.providers.local.apy import ApertiumConfig, ApyProcess
from engines.translation.base import Capabilities, Translator
from engines.translation.routes import all_routes, direct_graph, installed_pairs, shortest_route

NOTE = "Apertium: good between related languages, the gist otherwise; pivots add errors"

__all__ = ["NOTE", "ApertiumConfig", "ApertiumTranslator", "ApyProcess", "clean"]

_SPACES = re.compile(r"\s{2,}")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?»)])")
_MARKS = re.compile(r"(?<!\w)[*#@](?=\w)")


def clean(text: str) -> str:
    """Tidy APY output: unknown-word marks, doubled spaces, spaces before punctuation."""
    text = _MARKS.sub("", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()



class ApertiumTranslator(Translator):
    """Local, offline translation through a warm APY, with pivot routing."""

    name = "local"

    def __init__(self, apy: ApyProcess | None = None) -> None:
        self.apy = apy or ApyProcess()

    @classmethod
    def from_config(cls, config: ApertiumConfig) -> ApertiumTranslator:
        return cls(ApyProcess(pairs_path=config.pairs_path, python=config.python,
                              preload=config.preload, idle_s=config.idle_s))

    def _direct(self) -> dict[str, set[str]]:
        """Our languages' direct pairs: what APY lists, or before it runs, what is installed."""
        return direct_graph(self.apy.pairs or installed_pairs(self.apy.pairs_path))

    def start(self) -> None:
        self.apy.start()

    def close(self) -> None:
        self.apy.close()

    @property
    def capabilities(self) -> Capabilities:
        graph = self._direct()
        langs = frozenset(graph) | frozenset(t for ts in graph.values() for t in ts)
        return Capabilities(offline=True, languages=langs, note=NOTE)

    def route(self, source: str, target: str) -> tuple[str, ...] | None:
        return shortest_route(self._direct(), source, target)

    def supports(self, source: str, target: str) -> bool:
        return self.route(source, target) is not None

    def routes(self) -> dict[str, dict[str, tuple[str, ...]]]:
        return all_routes(self._direct())

    def _translate_impl(self, text: str, source: str, target: str) -> tuple[str, tuple[str, ...]]:
        route = self.route(source, target)
        assert route is not None  # translate() checked supports()
        if not self.apy.alive():
            self.apy.ensure()
        try:
            for a, b in zip(route, route[1:], strict=False):
                text = clean(self.apy.request((ISO3[a], TARGET_CODE[b]), text))
        except EngineConnectionError:
            self.apy.recover()  # it died under us: restart now so the retry finds it
            raise
        return text, route

    def status(self) -> dict[str, Any]:
        base = super().status()
        base.update(running=self.apy.alive(), pid=self.apy.proc.pid if self.apy.proc else None,
                    port=self.apy.port, restarts=self.apy.restarts, pairs=len(self.apy.pairs),
                    last_error=self.apy.last_error, note=self.capabilities.note)
        return base
