"""unit: synthesized speech files are removed by age, and oldest first past the size limit."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from app.housekeeping import tidy_tts
from core.settings import Settings

pytestmark = pytest.mark.unit


def test_old_files_go_and_the_oldest_go_first_past_the_size_limit(tmp_path: Path) -> None:
    folder = tmp_path / "tts"
    folder.mkdir()
    now = time.time()
    ages = {"a": 7200, "b": 600, "c": 300, "d": 60, "e": 1}  # seconds old, 1 kB each
    for name, age in ages.items():
        path = folder / f"{name}.wav"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - age, now - age))
    (folder / "keep.txt").write_text("not ours")
    settings = Settings(var_dir=tmp_path, web={"tts_files_max_age_s": 3600, "tts_files_max_bytes": 2500})
    assert tidy_tts(settings, now) == 3  # a: too old; b, c: oldest while over 2.5 kB
    assert sorted(p.name for p in folder.iterdir()) == ["d.wav", "e.wav", "keep.txt"]
    assert tidy_tts(settings, now) == 0
    assert tidy_tts(Settings(var_dir=tmp_path / "none")) == 0  # no folder yet: nothing to do
