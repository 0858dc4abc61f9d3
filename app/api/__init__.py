"""The REST API under /api, a module per resource: me (guest sessions, preferences), engines
(engines, features, voices, languages), rooms (rooms, glossary, usage, history) and tts (speech
for a user, and the audio files of `tts-audio`); common holds what they share."""
from __future__ import annotations

from app.api import engines, me, rooms, tts  # noqa: F401  (they add their routes)
from app.api.common import bp

__all__ = ["bp", "tts"]
