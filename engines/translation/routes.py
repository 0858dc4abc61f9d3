"""Which directions the local engine offers: Apertium's installed pairs (read from the mode files,
without starting APY) as a graph of our languages, and the shortest route through pivot languages
for every direction, at most MAX_ROUTE_PAIRS pairs long, preferring the biggest dictionaries."""
from __future__ import annotations

import collections
import functools
import os
import re

from engines.languages import FROM_ISO3, FROM_TARGET_CODE, ISO3, MAX_ROUTE_PAIRS

DEFAULT_PAIRS_PATH = "/usr/share/apertium/modes"
# Pivots tried first when no direct pair exists: the biggest Apertium dictionaries.
PIVOT_PREFERENCE = ("es", "ca", "en", "fr", "pt")
_MODE = re.compile(r"^([a-z]{2,3}(?:_\w+)?)-([a-z]{2,3}(?:_\w+)?)\.mode$")


def installed_pairs(pairs_path: str) -> set[tuple[str, str]]:
    """The pairs APY would list, read from the mode files' names ("en-gl.mode" → ("eng", "glg")),
    for when APY is not running; two-letter names are those of our languages."""
    try:
        names = os.listdir(pairs_path)
    except OSError:
        return set()
    def iso3(code: str) -> str:
        return ISO3.get(code, code) if len(code) == 2 else code

    return {(iso3(m.group(1)), iso3(m.group(2))) for m in map(_MODE.match, names) if m}


def direct_graph(pairs: set[tuple[str, str]]) -> dict[str, set[str]]:
    """Apertium pairs as our languages' direct translations: source → targets."""
    graph: dict[str, set[str]] = collections.defaultdict(set)
    for src, dst in pairs:
        if src in FROM_ISO3 and dst in FROM_TARGET_CODE:
            graph[FROM_ISO3[src]].add(FROM_TARGET_CODE[dst])
    return graph


def shortest_route(graph: dict[str, set[str]], source: str, target: str) -> tuple[str, ...] | None:
    """Shortest chain of direct pairs from source to target, preferring big pivots; None if it
    would take more than `MAX_ROUTE_PAIRS` pairs."""
    rank = {c: i for i, c in enumerate(PIVOT_PREFERENCE)}
    prev: dict[str, str] = {source: source}
    queue = collections.deque([(source, 0)])  # (language, pairs taken to reach it)
    while queue:
        node, pairs = queue.popleft()
        if node == target:
            path = [node]
            while path[-1] != source:
                path.append(prev[path[-1]])
            return tuple(reversed(path))
        if pairs == MAX_ROUTE_PAIRS:
            continue  # breadth first: nothing beyond is short enough
        for nxt in sorted(graph.get(node, ()), key=lambda c: (rank.get(c, 99), c)):
            if nxt not in prev:
                prev[nxt] = node
                queue.append((nxt, pairs + 1))
    return None


def all_routes(graph: dict[str, set[str]]) -> dict[str, dict[str, tuple[str, ...]]]:
    """Every route offered: source → target → (source, pivots…, target)."""
    langs = sorted(set(graph) | {t for ts in graph.values() for t in ts})
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for src in langs:
        for dst in langs:
            route = shortest_route(graph, src, dst) if src != dst else None
            if route is not None:
                out.setdefault(src, {})[dst] = route
    return out


@functools.lru_cache(maxsize=4)
def installed_routes(pairs_path: str = DEFAULT_PAIRS_PATH) -> dict[str, dict[str, tuple[str, ...]]]:
    """The routes the local engine offers with the pairs installed at `pairs_path`, without
    starting APY (for listing languages in a process that does not translate)."""
    return all_routes(direct_graph(installed_pairs(pairs_path)))
