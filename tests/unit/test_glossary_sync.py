"""unit: glossary changes between web processes (app.glossary_sync) are taken only when signed
with the link's key, well formed, and from another process."""
from __future__ import annotations

import json

import pytest

from app.glossary_sync import GlossarySync

pytestmark = pytest.mark.unit
KEY = b"k" * 32


def test_only_signed_well_formed_changes_from_other_processes_are_applied() -> None:
    applied: list[tuple[str, list[str]]] = []
    here = GlossarySync("redis://127.0.0.1:1/0", KEY, "web-here", lambda r, t: applied.append((r, t)))
    there = GlossarySync("redis://127.0.0.1:1/0", KEY, "web-there", lambda r, t: None)
    forger = GlossarySync("redis://127.0.0.1:1/0", b"x" * 32, "web-there", lambda r, t: None)

    def message(sync: GlossarySync, **body: object) -> str:
        raw = json.dumps(body).encode()
        return json.dumps({"b": raw.decode(), "m": sync._mac(raw)})

    good = {"from": "web-there", "roomId": "room-1", "terms": ["Grok", "LiveKit"]}
    assert not here.handle(message(forger, **good))  # another key
    assert not here.handle(json.dumps({"b": json.dumps(good), "m": "0" * 64}))  # unsigned
    assert not here.handle("{not json")
    assert not here.handle(message(there, **dict(good, terms="Grok")))
    assert not here.handle(message(there, **dict(good, terms=["x" * 51])))
    assert not here.handle(message(there, **dict(good, terms=["t"] * 101)))
    assert not here.handle(message(there, **dict(good, **{"from": "web-here"})))  # its own
    assert applied == []
    assert here.handle(message(there, **good))
    assert applied == [("room-1", ["Grok", "LiveKit"])]
