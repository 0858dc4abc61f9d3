"""Translated speech in the media plane: one `tts-<lang>` track per language someone in a voice room
listens in, each final translation synthesized once for that language and played in the order
things were said, one line at a time.

A `Line` is one translation to speak. `Lineup` (pure, no LiveKit) keeps a language's lines in the
order they were said, refuses a line it already has, and applies the lag policy: when more than
`speedup_s` of audio waits behind the line about to play, it plays faster (up to `max_speed`,
pitch kept: sox's `tempo`), and past `skip_s` the oldest waiting lines are dropped (their
captions are on screen already) so the language catches up with the room instead of drifting
further behind. `Voice` is one published track with its player task.
"""
from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

RATE = 48000  # what the track carries; every engine's audio is resampled to it
FRAME_MS = 20
FRAME_SAMPLES = RATE * FRAME_MS // 1000
GAP_S = 0.15  # silence between two lines, so they do not run into each other
SECONDS_PER_CHAR = 0.065  # a line's length before its audio exists (espeak-ng and piper: 0.05–0.08)
SYNTH_WAIT_S = 8.0  # a line whose audio has not come by then is skipped (its caption stays)
TOPIC = "lt.tts"  # data packets to a language's listeners: what plays now, the lag


@dataclass(frozen=True)
class LagPolicy:
    """When a language's backlog (audio waiting plus what is left of the current line) passes
    `speedup_s`, lines play faster, growing linearly to `max_speed` at `skip_s`; past `skip_s`
    the oldest waiting lines are dropped until it is back under."""

    speedup_s: float = 3.0
    skip_s: float = 10.0
    max_speed: float = 1.4

    def speed(self, backlog_s: float) -> float:
        if backlog_s <= self.speedup_s:
            return 1.0
        share = min(1.0, (backlog_s - self.speedup_s) / max(0.001, self.skip_s - self.speedup_s))
        return round(1.0 + share * (self.max_speed - 1.0), 3)


@dataclass
class Line:
    """One translation to speak: `key` is the utterance's id, `at` when it was said (epoch ms)."""

    key: str
    text: str
    at: float
    audio: Awaitable[np.ndarray | None] | None = None  # PCM16 at RATE, once synthesized
    pcm: np.ndarray | None = None
    skipped: bool = False

    @property
    def seconds(self) -> float:
        """Its length: the audio's once there, else estimated from the text."""
        if self.pcm is not None:
            return len(self.pcm) / RATE
        return len(self.text) * SECONDS_PER_CHAR


@dataclass
class Lineup:
    """One language's lines not yet played, in the order they were said."""

    policy: LagPolicy = field(default_factory=LagPolicy)
    waiting: list[Line] = field(default_factory=list)
    seen: OrderedDict[str, None] = field(default_factory=OrderedDict)
    playing_until: float = 0.0  # monotonic time the current line ends
    skipped: int = 0

    def add(self, line: Line) -> bool:
        """Queue a line in the order it was said; False if this language already has it."""
        if line.key in self.seen:
            return False
        self.seen[line.key] = None
        while len(self.seen) > 2000:
            self.seen.popitem(last=False)
        i = len(self.waiting)
        while i > 0 and self.waiting[i - 1].at > line.at:
            i -= 1
        self.waiting.insert(i, line)
        return True

    def backlog_s(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        return max(0.0, self.playing_until - now) + sum(x.seconds + GAP_S for x in self.waiting)

    def take(self, now: float | None = None) -> tuple[Line | None, list[Line]]:
        """The next line to play and the lines dropped to catch up (oldest first, never the
        newest: what is being said now is what the listener most needs)."""
        dropped: list[Line] = []
        while len(self.waiting) > 1 and self.backlog_s(now) > self.policy.skip_s:
            line = self.waiting.pop(0)
            line.skipped = True
            dropped.append(line)
        self.skipped += len(dropped)
        return (self.waiting.pop(0) if self.waiting else None), dropped


def to_pcm(wav: bytes) -> np.ndarray:
    """A WAV file (any rate, mono or stereo PCM16) as mono PCM16 at RATE."""
    import io
    import wave

    import soxr
    with wave.open(io.BytesIO(wav)) as w:
        rate, channels = w.getframerate(), w.getnchannels()
        raw = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    if channels > 1:
        raw = raw.reshape(-1, channels).mean(axis=1).astype(np.int16)
    if rate == RATE:
        return raw
    return np.asarray(soxr.resample(raw, rate, RATE), dtype=np.int16)


def trim(pcm: np.ndarray, threshold: int = 200, lead_ms: int = 20, tail_ms: int = 100) -> np.ndarray:
    """The audio without the silence engines put around speech (espeak-ng ends each line with
    ~300 ms of it) beyond `lead_ms` before and `tail_ms` after: silence is lag, and GAP_S already
    separates lines."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > threshold)
    if not len(loud):
        return pcm[:0]
    start = max(0, int(loud[0]) - RATE * lead_ms // 1000)
    end = min(len(pcm), int(loud[-1]) + RATE * tail_ms // 1000)
    return pcm[start:end]


def tempo(pcm: np.ndarray, speed: float, rate: int = RATE) -> np.ndarray:
    """`pcm` (mono PCM16 at `rate`) played `speed` times faster, pitch kept (sox's WSOLA `tempo`,
    tuned for speech). The original when sox fails: late is better than nothing."""
    if speed <= 1.001 or not len(pcm):
        return pcm
    fmt = ["-t", "raw", "-r", str(rate), "-e", "signed", "-b", "16", "-c", "1"]
    try:
        out = subprocess.run(["sox", *fmt, "-", *fmt, "-", "tempo", "-s", f"{speed:.3f}"],
                             input=pcm.tobytes(), capture_output=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        logger.warning("could not speed up translated speech; playing it as it is", exc_info=True)
        return pcm
    return np.frombuffer(out, dtype=np.int16)


class Voice:
    """One published `tts-<lang>` track and the task that plays its lineup.

    `notify(listeners, message)` sends a data packet (topic lt.tts) to the language's
    listeners: which line plays now, how far behind the room it is, and the backlog."""

    def __init__(self, language: str, source: Any, policy: LagPolicy,
                 notify: Callable[[str, dict[str, Any]], Awaitable[None]]) -> None:
        self.language = language
        self.source = source
        self.lineup = Lineup(policy)
        self.notify = notify
        self.wake = asyncio.Event()
        self.played = 0
        self.task: asyncio.Task[None] | None = None

    def start(self) -> Voice:
        self.task = asyncio.ensure_future(self._run())
        return self

    def add(self, line: Line) -> bool:
        added = self.lineup.add(line)
        if added:
            self.wake.set()
        return added

    async def _run(self) -> None:
        while True:
            line, dropped = self.lineup.take()
            if line is None:
                self.wake.clear()
                await self.wake.wait()
                continue
            if dropped:
                await self._skipped(dropped)
            try:
                await self._play(line)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("could not play a translated line", extra={"language": self.language})

    async def _skipped(self, lines: list[Line]) -> None:
        """Tell the language's listeners which lines will not be read aloud."""
        await self.notify(self.language, {"type": "skipped", "language": self.language,
                                          "utteranceIds": [x.key for x in lines]})

    async def _play(self, line: Line) -> None:
        if line.audio is not None and line.pcm is None:
            try:
                line.pcm = await asyncio.wait_for(line.audio, SYNTH_WAIT_S)
            except TimeoutError:
                logger.warning("a translated line took too long to synthesize; skipped",
                               extra={"language": self.language})
                line.pcm = None
            if line.pcm is None:  # synthesis failed or too slow: the caption stays, no audio
                line.skipped = True
                self.lineup.skipped += 1
                await self._skipped([line])
                return
        pcm = line.pcm if line.pcm is not None else np.zeros(0, dtype=np.int16)
        # What waits behind this line decides its speed: one long sentence alone plays as it is.
        speed = self.lineup.policy.speed(self.lineup.backlog_s())
        if speed > 1.0:
            pcm = await asyncio.get_running_loop().run_in_executor(None, tempo, pcm, speed)
        seconds = len(pcm) / RATE
        self.lineup.playing_until = time.monotonic() + seconds
        lag_ms = max(0.0, time.time() * 1000 - line.at)
        await self.notify(self.language, {
            "type": "playing", "language": self.language, "utteranceId": line.key,
            "lagMs": round(lag_ms), "backlogMs": round(self.lineup.backlog_s() * 1000),
            "durationMs": round(seconds * 1000), "speed": speed})
        await self._send(pcm)
        self.played += 1

    async def _send(self, pcm: np.ndarray) -> None:
        from livekit import rtc
        step = FRAME_SAMPLES
        tail = np.zeros(int(GAP_S * RATE), dtype=np.int16)
        data = np.concatenate([pcm, tail])
        for i in range(0, len(data), step):
            chunk = data[i:i + step]
            if len(chunk) < step:
                chunk = np.pad(chunk, (0, step - len(chunk)))
            await self.source.capture_frame(rtc.AudioFrame(chunk.tobytes(), RATE, 1, step))
        await self.source.wait_for_playout()

    async def aclose(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def packet(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()
