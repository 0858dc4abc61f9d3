"""Files that must not pile up: synthesized speech in var/tts is removed once older than
TTS_FILES_MAX_AGE_S, and the oldest first while the folder holds more than TTS_FILES_MAX_BYTES.
A file a listener is about to play is seconds old; one whose ticket has expired serves nobody."""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from core.naming import tts_audio_dir
from core.settings import Settings

logger = logging.getLogger(__name__)

EVERY_S = 60.0


def tidy_tts(settings: Settings, now: float | None = None) -> int:
    """Remove what is too old or too much; returns how many files went."""
    folder = tts_audio_dir(settings.var_dir)
    now = time.time() if now is None else now
    entries = []
    try:
        for e in os.scandir(folder):
            if e.name.endswith((".wav", ".tmp")):
                try:
                    st = e.stat()
                except FileNotFoundError:  # renamed or removed meanwhile
                    continue
                entries.append((st.st_mtime, st.st_size, e.path))
    except FileNotFoundError:
        return 0
    entries.sort()  # oldest first
    total = sum(size for _, size, _ in entries)
    removed = 0
    for mtime, size, path in entries:
        if now - mtime <= settings.web.tts_files_max_age_s and total <= settings.web.tts_files_max_bytes:
            break
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        total -= size
        removed += 1
    if removed:
        logger.info("synthesized speech files removed", extra={"count": removed})
    return removed


def tidy_forever(settings: Settings, sleep: Callable[[float], Any]) -> None:
    while True:
        try:
            tidy_tts(settings)
        except Exception:
            logger.exception("tidying synthesized speech failed; trying again")
        sleep(EVERY_S)
