"""Speech for listeners who turned TTS on. Those in the room's voice session hear it on the
LiveKit agent's `tts-<lang>` track (handed to the agent first, which says whom it reaches); for the
others, one synthesis per (engine, voice, language, text), however many listen, stored as a file
named by that key and announced with `tts-audio`."""
from __future__ import annotations

import base64
import hashlib
import logging
import os
import wave
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from core import usage, wire
from core.naming import tts_audio_dir, user_room
from core.providers import PREMIUM
from core.runtime import Runtime
from core.signing import audio_ticket
from core.speech import request_say, request_tts

logger = logging.getLogger(__name__)


def audio_key(engine: str, voice: str, language: str, text: str) -> str:
    return hashlib.sha256("\x1f".join((engine, voice, language, text)).encode()).hexdigest()


def _touch(path: Path) -> bool:
    """Whether the file exists; if so it is in use again (housekeeping goes by its time)."""
    try:
        os.utime(path)
        return True
    except FileNotFoundError:
        return False


def _ensure_audio(rt: Runtime, engine: str, voice: str, language: str, text: str,
                  billed: Callable[[str], None]) -> tuple[str, float]:
    """(key, duration ms) of the audio, synthesizing it only if no file holds it yet; `billed`
    gets the provider that synthesized it anew. Audio a fallback engine made is filed under that
    engine's name, so the asked engine is asked again next time."""
    key = audio_key(engine, voice, language, text)
    folder = tts_audio_dir(rt.settings.var_dir)
    path = folder / f"{key}.wav"
    if not _touch(path):
        reply = request_tts(rt.settings, text, language, voice or None, engine)
        if not reply.get("ok"):
            raise RuntimeError(str(reply.get("code")))
        # Filed under the engine that made it (a fallback's audio is not the asked engine's: that
        # one is asked again next time) and the voice it counts as: a voice the engine does not
        # offer is its default voice, "" (one file, found by every listener of the default).
        made_by = str(reply.get("engine"))
        key = audio_key(made_by, str(reply.get("voiceKey", reply.get("voice")) or ""), language, text)
        path = folder / f"{key}.wav"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(base64.b64decode(reply["wav"]))
        os.replace(tmp, path)
        if not reply.get("cached"):
            billed(made_by)
    with wave.open(str(path)) as w:
        return key, w.getnframes() * 1000.0 / w.getframerate()


def speak_for(rt: Runtime, utterance_id: str, room_id: str, target: str, text: str,
              listeners: list[tuple[str, str, str]], *, source: str = "", speaker: str = "",
              at: float = 0.0, heard: bool = False) -> int:
    """listeners: (user id, voice, engine). Those the voice room's agent reaches hear it on its
    track; the others get `tts-audio`. Returns how many were served either way."""
    on_track = set(request_say(rt.settings, room_id, utterance_id, target, source,
                               speaker, text, at, listeners, heard)) if listeners else set()
    rt.metrics.inc("messages", "tts_track", len(on_track))
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for uid, voice, engine in listeners:
        if uid in on_track:
            continue
        groups[(engine or "local", voice or "")].append(uid)
    sent = 0
    for (engine, voice), uids in groups.items():
        def billed(provider: str, uids: list[str] = uids) -> None:
            if provider in PREMIUM:  # characters, shared among the listeners it was made for
                for uid in uids:
                    usage.record(rt.settings.database_url, provider, "characters",
                                 len(text) / len(uids), room_id, uid)

        try:
            key, duration = _ensure_audio(rt, engine, voice, target, text, billed)
        except (OSError, RuntimeError, ValueError, wave.Error):
            rt.metrics.inc("errors", "tts")
            logger.warning("speech synthesis failed", exc_info=True,
                           extra={"utterance_id": utterance_id, "language": target})
            continue
        for uid in uids:
            ticket = audio_ticket(rt.settings.secret_key, key, uid)
            audio: wire.TtsAudio = {"messageId": wire.message_id(utterance_id, target),
                                    "url": f"/api/tts/audio/{key}.wav?t={ticket}",
                                    "language": target, "durationMs": round(duration, 1)}
            rt.emitter.emit("tts-audio", audio, to=user_room(room_id, uid))
            sent += 1
    rt.metrics.inc("messages", "tts", sent)
    return sent + len(on_track)
