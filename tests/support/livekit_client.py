"""A LiveKit participant made with the LiveKit Python SDK, driven from synchronous tests and
benchmarks: joins with a token, publishes a microphone track, plays PCM at real time."""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from livekit import rtc

RATE = 16000
FRAME_MS = 10
FRAME_SAMPLES = RATE * FRAME_MS // 1000


class LkParticipant:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.room: rtc.Room = self._run(self._make_room())
        self.sources: dict[str, rtc.AudioSource] = {}

    async def _make_room(self) -> rtc.Room:
        return rtc.Room(loop=self.loop)

    def _run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def connect(self) -> LkParticipant:
        self._run(self.room.connect(self.url, self.token, rtc.RoomOptions(auto_subscribe=False)))
        return self

    @property
    def name(self) -> str:
        return str(self.room.name)

    def publish(self, track_name: str = "microphone") -> None:
        async def go() -> None:
            src = rtc.AudioSource(RATE, 1, queue_size_ms=200)
            track = rtc.LocalAudioTrack.create_audio_track(track_name, src)
            opts = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
            await self.room.local_participant.publish_track(track, opts)
            self.sources[track_name] = src
        self._run(go())

    def agents(self) -> list[str]:
        """Identities of agent participants in the room now."""
        async def look() -> list[str]:
            return [p.identity for p in self.room.remote_participants.values()
                    if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT]
        return list(self._run(look()))

    def wait_for_agent(self, timeout: float = 90, not_in: tuple[str, ...] = ()) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fresh = [a for a in self.agents() if a not in not_in]
            if fresh:
                return fresh[0]
            time.sleep(0.2)
        raise AssertionError(f"no agent joined {self.name} within {timeout} s")

    def play(self, pcm: bytes, track_name: str = "microphone", marks: dict[int, float] | None = None,
             timeout: float = 600) -> dict[int, float]:
        """Send 16 kHz mono PCM16 in 10 ms frames, paced at real time. `marks` maps byte offsets
        to fill in with the wall time (epoch ms) at which the frame holding them was sent."""
        marks = dict(marks or {})

        async def go() -> None:
            src = self.sources[track_name]
            step = FRAME_SAMPLES * 2
            start = time.monotonic()
            pending = sorted(marks)
            for n, i in enumerate(range(0, len(pcm), step)):
                chunk = pcm[i:i + step].ljust(step, b"\0")
                await src.capture_frame(rtc.AudioFrame(chunk, RATE, 1, FRAME_SAMPLES))
                while pending and pending[0] < i + step:
                    marks[pending.pop(0)] = time.time() * 1000
                delay = start + (n + 1) * FRAME_MS / 1000 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        self._run(go(), timeout)
        return marks

    def close(self) -> None:
        try:
            self._run(self.room.disconnect(), 10)
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)


def service(env: dict[str, str]) -> Any:
    """The app's LiveKit service for a test environment (LIVEKIT_URL / _API_KEY / _API_SECRET)."""
    from core.livekit import LiveKitConfig, LiveKitService
    return LiveKitService(LiveKitConfig(env["LIVEKIT_URL"], env["LIVEKIT_API_KEY"],
                                        env["LIVEKIT_API_SECRET"]))


def speech_end(pcm: bytes, threshold: float = 0.05) -> int:
    """Byte offset just after the last 10 ms frame whose peak is above `threshold` of the clip's
    peak: where speech ends in a recording."""
    import numpy as np
    a = np.abs(np.frombuffer(pcm, dtype=np.int16).astype(np.int32))
    peak = int(a.max()) or 1
    frames = len(a) // FRAME_SAMPLES
    loud = [k for k in range(frames) if a[k * FRAME_SAMPLES:(k + 1) * FRAME_SAMPLES].max() > threshold * peak]
    return ((loud[-1] + 1) * FRAME_SAMPLES * 2) if loud else 0
