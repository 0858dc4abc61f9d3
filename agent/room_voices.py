"""The speaking half of the agent's room job: one `tts-<lang>` track (agent.voice_out.Voice) per
language of the room's human participants, each listener allowed to subscribe to their own
language's track only (track subscription permissions), and the lines the workers hand over
(`SayRequest`) queued on them, synthesized once per language.

The listening half (agent.livekit_agent.RoomJob) owns the room and tells this when participants
come, go or change language, and what it needs to know of them (`humans`, `speaking_here`).
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.voice_out import RATE, TOPIC, Line, Voice, packet, to_pcm, trim
from core import usage
from core.providers import PREMIUM
from engines.languages import LANGUAGES

logger = logging.getLogger(__name__)

TTS_TRACK_PREFIX = "tts-"


@dataclass(frozen=True)
class SayRequest:
    """One translation to speak in a voice room, from the workers (core.wire.SayOp, checked):
    `listeners` are the room's listeners of `language` with speech on, as (user id, voice, TTS
    engine)."""

    room: str
    utterance: str
    language: str
    source: str
    speaker: str
    text: str
    at: float  # when it was said (epoch ms): the order lines play in
    listeners: tuple[tuple[str, str, str], ...]
    heard: bool = False  # it was spoken into a LiveKit microphone (the room heard the original)

    @classmethod
    def parse(cls, msg: dict[str, Any]) -> SayRequest:
        """ValueError unless every field has its type and a sane size."""
        def text(name: str, limit: int) -> str:
            value = msg.get(name)
            if not isinstance(value, str) or len(value) > limit:
                raise ValueError(f"bad {name}")
            return value

        at = msg.get("at")
        if not isinstance(at, int | float) or not math.isfinite(at) or not 0 <= at < 1e15:
            raise ValueError("bad at")
        raw = msg.get("listeners")
        if not isinstance(raw, list) or len(raw) > 1000 or not all(
                isinstance(x, list) and len(x) == 3 and all(isinstance(y, str) and len(y) <= 200 for y in x)
                for x in raw):
            raise ValueError("bad listeners")
        req = cls(text("room", 200), text("utterance", 200), text("language", 16),
                  text("source", 16), text("speaker", 200), text("text", 5000), float(at),
                  tuple((a, b, c) for a, b, c in raw), msg.get("heard") is True)
        if req.language not in LANGUAGES or not req.text.strip():
            raise ValueError("bad language or empty text")
        return req


class RoomVoices:
    """One room's `tts-<lang>` tracks. `humans()` gives the room's human participants by identity
    (each with its `language` attribute); `speaking_here(identity)` whether one has an unmuted
    microphone in the room. `state` is the process's AgentState (synthesis, lag policy, meter)."""

    def __init__(self, room: Any, room_id: str, state: Any, humans: Callable[[], dict[str, Any]],
                 speaking_here: Callable[[str], bool]) -> None:
        self.room = room
        self.room_id = room_id
        self.state = state
        self.humans = humans
        self.speaking_here = speaking_here
        self.voices: dict[str, Voice] = {}  # language → its published tts-<lang> track
        self.sids: dict[str, str] = {}  # language → that track's sid
        self._publishing: dict[str, asyncio.Future[Voice]] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.closing = False  # set when the job ends: no new lines, no new tracks

    def wanted(self) -> set[str]:
        """The languages of the room's human participants: each gets a track."""
        return {lang for p in self.humans().values()
                if (lang := str(p.attributes.get("language", ""))) in LANGUAGES}

    def follow(self) -> None:
        """A participant came, went or changed language: tracks for every language wanted,
        permissions to match."""
        if self.state.voices is None or self.closing:
            return
        for lang in self.wanted() - set(self.voices) - set(self._publishing):
            task = asyncio.ensure_future(self.voice(lang))
            self.tasks.add(task)
            task.add_done_callback(self._reap)
        self.permit()

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a failed publish is logged by _published

    async def voice(self, lang: str) -> Voice:
        """The language's track, published the first time it is needed (once, however many ask)."""
        if lang in self.voices:
            return self.voices[lang]
        pending = self._publishing.get(lang)
        if pending is None:
            pending = self._publishing[lang] = asyncio.ensure_future(self._publish(lang))
            pending.add_done_callback(lambda f: self._published(lang, f))
        return await asyncio.shield(pending)

    def _published(self, lang: str, done: asyncio.Future[Voice]) -> None:
        """A failed publish is forgotten (and logged), so the next line or participant tries again."""
        if done.cancelled() or done.exception() is not None:
            self._publishing.pop(lang, None)
            if not done.cancelled():
                logger.warning("could not publish a language's track", exc_info=done.exception(),
                               extra={"room_id": self.room_id, "language": lang})

    async def _publish(self, lang: str) -> Voice:
        from livekit import rtc
        source = rtc.AudioSource(RATE, 1, queue_size_ms=200)
        track = rtc.LocalAudioTrack.create_audio_track(f"{TTS_TRACK_PREFIX}{lang}", source)
        pub = await self.room.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_UNKNOWN, dtx=False))
        voice = Voice(lang, source, self.state.policy, self.notify).start()
        self.voices[lang], self.sids[lang] = voice, pub.sid
        self.permit()
        logger.info("speaking a language in the room", extra={"room_id": self.room_id, "language": lang})
        return voice

    def permit(self) -> None:
        """Each human may subscribe to their own language's track and nothing else of ours."""
        from livekit import rtc
        perms = []
        for identity, p in self.humans().items():
            sid = self.sids.get(str(p.attributes.get("language", "")))
            perms.append(rtc.ParticipantTrackPermission(
                participant_identity=identity, allow_all=False, allowed_track_sids=[sid] if sid else []))
        try:
            self.room.local_participant.set_track_subscription_permissions(
                allow_all_participants=False, participant_permissions=perms)
        except Exception:  # noqa: BLE001 - the room may be closing; the next change sets them again
            logger.warning("could not set track permissions", exc_info=True, extra={"room_id": self.room_id})

    async def notify(self, lang: str, message: dict[str, Any]) -> None:
        """A data packet to the listeners of `lang` (what plays now, how far behind)."""
        to = [i for i, p in self.humans().items() if p.attributes.get("language") == lang]
        if not to:
            return
        try:
            await self.room.local_participant.publish_data(
                packet(message), reliable=True, destination_identities=to, topic=TOPIC)
        except Exception:  # noqa: BLE001 - a status line; the audio matters, not this
            logger.debug("could not send a playback notice", exc_info=True)

    async def say(self, req: SayRequest, deadline: float = math.inf) -> list[str]:
        """Queue one translation on its language's track; the listeners it reaches (those in
        this LiveKit room in that language). None when it cannot go on the track:
        - the speaker is here in that language (a shared track would give them their own words);
        - it is in the language it was said in: a listener who heard it from the speaker's
          microphone here needs nothing more (all covered); typed or said elsewhere, the
          listeners get files (the speaker may be on that language's track);
        - the job is ending, or the caller has stopped waiting (`deadline`, monotonic).
        A line the track already has is not synthesized again."""
        humans = self.humans()
        here = [x for x in req.listeners
                if x[0] in humans and humans[x[0]].attributes.get("language") == req.language]
        speaker = humans.get(req.speaker)
        if not here or self.closing or (
                speaker is not None and speaker.attributes.get("language") == req.language
                and req.language != req.source):
            return []
        covered = [uid for uid, _, _ in here]
        if req.language == req.source:
            return covered if req.heard and self.speaking_here(req.speaker) else []
        voice = await self.voice(req.language)
        if self.closing or time.monotonic() > deadline or voice.task is None or voice.task.done():
            return []
        if req.utterance in voice.lineup.seen:
            return covered
        (engine, name), _ = Counter((e or "", v or "") for _, v, e in here).most_common(1)[0]
        loop = asyncio.get_running_loop()
        audio = loop.run_in_executor(None, self._synthesize, req, engine, name, here)
        voice.add(Line(req.utterance, req.text, req.at, audio=audio))
        return covered

    def _synthesize(self, req: SayRequest, engine: str, voice: str,
                    here: list[tuple[str, str, str]]) -> np.ndarray | None:
        """The line's audio at the track's rate (None if no engine could make it); premium
        characters metered to the listeners who asked for the engine that made it."""
        try:
            out, cached = self.state.voices.speak(req.text, req.language, voice or None, engine)
            pcm = trim(to_pcm(out.wav))
        except Exception:  # noqa: BLE001 - the caption stays; this line has no audio
            logger.warning("could not synthesize a translated line", exc_info=True,
                           extra={"room_id": self.room_id, "language": req.language})
            return None
        if not cached and out.engine in PREMIUM and self.state.meter is not None:
            payers = [uid for uid, _, e in here if (e or "local") == out.engine] or [u for u, _, _ in here]
            for uid in payers:
                usage.record(self.state.meter.url, out.engine, "characters",
                             len(req.text) / len(payers), self.room_id, uid)
        return pcm

    async def aclose(self) -> None:
        """The job is ending: no new lines or tracks; each track's player stopped."""
        self.closing = True
        for task in list(self.tasks):
            task.cancel()
        for voice in list(self.voices.values()):
            await voice.aclose()
