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


LOUD = 300.0  # RMS (PCM16) above which a 20 ms frame of received speech counts as sound


class LkParticipant:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.room: rtc.Room = self._run(self._make_room())
        self.sources: dict[str, rtc.AudioSource] = {}
        # What arrives: per received track name, (epoch ms, RMS) of each frame; data packets
        # (epoch ms, topic, JSON); tracks whose subscription was refused.
        self.levels: dict[str, list[tuple[float, float]]] = {}
        self.packets: list[tuple[float, str, Any]] = []
        self.refused: list[str] = []
        self.subscribed: list[str] = []

    async def _make_room(self) -> rtc.Room:
        room = rtc.Room(loop=self.loop)
        room.on("track_subscribed", self._on_track)
        room.on("track_subscription_failed", lambda p, sid, err: self.refused.append(sid))
        room.on("data_received", self._on_data)
        return room

    def _on_data(self, data: Any) -> None:
        import json
        try:
            body = json.loads(bytes(data.data))
        except ValueError:
            body = None
        self.packets.append((time.time() * 1000, str(data.topic), body))

    def _on_track(self, track: Any, publication: Any, participant: Any) -> None:
        self.subscribed.append(publication.name)
        self.levels.setdefault(publication.name, [])
        asyncio.ensure_future(self._record(track, publication.name))

    async def _record(self, track: Any, name: str) -> None:
        import numpy as np
        stream = rtc.AudioStream.from_track(track=track, sample_rate=RATE, num_channels=1,
                                            frame_size_ms=20)
        async for ev in stream:
            a = np.frombuffer(bytes(ev.frame.data), dtype=np.int16).astype(np.float64)
            self.levels[name].append((time.time() * 1000, float(np.sqrt((a * a).mean())) if len(a) else 0.0))

    def remote_tracks(self) -> dict[str, Any]:
        """Every remote track publication by name, with its participant's identity."""
        async def look() -> dict[str, Any]:
            return {pub.name: pub for p in self.room.remote_participants.values()
                    for pub in p.track_publications.values()}
        return dict(self._run(look()))

    def listen(self, name: str, timeout: float = 30) -> None:
        """Subscribe to the remote track called `name` once it is published."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pub = self.remote_tracks().get(name)
            if pub is not None:
                self.loop.call_soon_threadsafe(pub.set_subscribed, True)
                return
            time.sleep(0.2)
        raise AssertionError(f"no track {name} was published within {timeout} s")

    def sounds(self, name: str, since: float = 0.0, min_ms: float = 200,
               gap_ms: float = 120) -> list[tuple[float, float]]:
        """(start, end) epoch ms of each stretch of sound received on track `name` after `since`:
        frames above LOUD, merged across gaps shorter than `gap_ms`, at least `min_ms` long."""
        out: list[tuple[float, float]] = []
        start = last = None
        for at, rms in self.levels.get(name, []):
            if at < since or rms < LOUD:
                continue
            if start is not None and last is not None and at - last > gap_ms:
                out.append((start, last))
                start = None
            start = at if start is None else start
            last = at
        if start is not None and last is not None:
            out.append((start, last))
        return [(a, b) for a, b in out if b - a >= min_ms]

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


def speaking_mic(peer: Any, language: str, lk_peers: list[LkParticipant]) -> LkParticipant:
    """`peer` starts a voice session; its microphone joins the LiveKit room, publishes, and waits
    for the agent (kept in `lk_peers`, which the test's fixture closes)."""
    assert peer.call("start-voice-session", {"languageCode": language})["ok"]
    ready = peer.wait_for("voice-session-ready")[-1]
    mic = LkParticipant(ready["liveKitUrl"], ready["liveKitToken"]).connect()
    lk_peers.append(mic)
    mic.publish()
    mic.wait_for_agent()
    return mic


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


def speech_pid(web_pid: int) -> int:
    """The pid of the speech process (the LiveKit agent) the web process `web_pid` started."""
    import subprocess
    out = subprocess.run(["pgrep", "-P", str(web_pid), "-f", "agent.speech_server"],
                         capture_output=True, text=True).stdout.split()
    assert out, "the speech process is not running"
    return int(out[0])


def kill_agent_mid_utterance(web_pid: int, mic: LkParticipant, pcm: bytes, agent: str) -> int:
    """SIGKILL the speech process halfway through `mic` playing `pcm` (then the rest of it and a
    second of silence); wait until a new agent has joined. Returns the killed pid."""
    import os
    import signal
    pid = speech_pid(web_pid)
    half = len(pcm) // 2 // 2 * 2
    mic.play(pcm[:half])
    os.kill(pid, signal.SIGKILL)
    mic.play(pcm[half:] + b"\0" * 32000)
    mic.wait_for_agent(timeout=90, not_in=(agent,))
    return pid


def signed_webhook(env: dict[str, str], event: str, room: str, identity: str,
                    kind: int = 0) -> tuple[str, str]:
    """A webhook exactly as livekit-server sends it: the JSON event, and a token whose sha256
    claim is the body's hash, signed with the API secret."""
    import base64
    import hashlib

    from google.protobuf.json_format import MessageToJson
    from livekit import api
    body = MessageToJson(api.WebhookEvent(event=event, room=api.Room(name=room),
                                          participant=api.ParticipantInfo(identity=identity, kind=kind)))
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    token = api.AccessToken(env["LIVEKIT_API_KEY"], env["LIVEKIT_API_SECRET"]).with_sha256(digest).to_jwt()
    return body, token
