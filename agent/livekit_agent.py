"""The LiveKit speech agent: a livekit-agents worker inside the speech process.

Dispatched explicitly by name into a room, it subscribes to each human participant's microphone —
never to agent participants or `tts-*` tracks (the feedback guard) — reads the speaker's language
from the participant's `language` attribute and follows changes, runs VAD + STT from the engines
package on a thread per speaker, and posts interims and finals to the app's signed bridge.

It also speaks, through its room's agent.room_voices.RoomVoices: the workers hand it each
translation to speak (`AgentState.say`, through the speech process's link); it answers at once
with the listeners it covers on a `tts-<lang>` track, whom the workers then leave out of the
Socket.IO `tts-audio` path.

Jobs run on threads of this process (not child processes), so every room shares the one Whisper
model already loaded for the Socket.IO audio path.
"""
from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import uuid
from typing import Any

from agent.bridge_client import BridgeClient
from agent.room_voices import TTS_TRACK_PREFIX, RoomVoices, SayRequest
from agent.speaker import SpeakerStream
from agent.voice_out import LagPolicy
from core import wire
from core.settings import Settings
from engines.errors import EngineError
from engines.stt.base import STT, SpeechEvent, StreamOptions, UsageMeter
from engines.stt.registry import STTRegistry

logger = logging.getLogger(__name__)

IDLE_LEAVE_S = 30.0  # leave a room that has had no human participant for this long
SAY_TIMEOUT_S = 3.0  # a line not queued by then is not queued (the workers wait longer: 6 s)


class Speaker:
    """One human microphone track: its recognition stream, events to the bridge."""

    def __init__(self, stt: STT, bridge: BridgeClient, room_id: str, identity: str, language: str,
                 options: StreamOptions | None = None) -> None:
        self.bridge = bridge
        self.room_id = room_id
        self.identity = identity
        self.stream = SpeakerStream(stt, language, key_prefix=self._prefix, deliver=self._send,
                                    on_error=self._failed, batch_bytes=1280,  # 40 ms: fewer pushes
                                    name=f"lk-stt-{identity[:8]}", options=options).start()

    @property
    def language(self) -> str:
        return self.stream.language

    def feed(self, pcm: bytes) -> None:
        self.stream.feed(pcm)

    def set_language(self, language: str) -> None:
        self.stream.set_language(language)

    def close(self) -> None:
        self.stream.close()

    def _prefix(self) -> str:
        # A fresh prefix per stream: keys stay unique across agent restarts, stable across retries.
        return f"lk:{self.room_id}:{self.identity}:{uuid.uuid4().hex[:10]}"

    def _failed(self, exc: EngineError) -> None:
        logger.warning("speech recognition failed for a speaker", exc_info=exc,
                       extra={"room_id": self.room_id, "speaker": self.identity})

    def _send(self, events: list[SpeechEvent]) -> None:
        """The bridge's contract (/internal/transcripts): a final carries its key as the
        idempotency key, an interim as the utterance key."""
        for e in events:
            payload: wire.BridgeTranscript = {"kind": e.kind, "speakerId": self.identity,
                                              "roomId": self.room_id, "text": e.text,
                                              "sourceLang": e.language}
            if e.kind == "notice":  # recognition moved to another engine: the speaker is told
                payload.update({"engine": e.engine, "previous": e.previous})
                self.bridge.interim(payload)
            elif e.kind == "final":  # one segment of the utterance: the key and its part
                payload.update({"idempotencyKey": e.utterance_key, "utteranceKey": e.utterance_key,
                                "part": e.part})
                if e.speech_end_at:
                    payload["speechEndAt"] = e.speech_end_at
                self.bridge.final(payload)
            else:
                payload.update({"utteranceKey": e.utterance_key, "part": e.part})
                self.bridge.interim(payload)


class AgentState:
    """What the jobs of this process share: the STT engines, the bridge, the rooms served (and
    their jobs), speech synthesis (`voices`, agent.connection.Voices), the lag policy, and
    where premium usage is metered (`meter(room, identity)`)."""

    def __init__(self, stt: STTRegistry, bridge: BridgeClient | None = None,
                 meter: Any = None, voices: Any = None, policy: LagPolicy | None = None) -> None:
        self.stt = stt
        self.bridge = bridge
        self.meter = meter
        self.voices = voices
        self.policy = policy or LagPolicy()
        self.rooms: set[str] = set()
        self.jobs: dict[str, RoomJob] = {}
        self.lock = threading.Lock()

    def serving(self) -> list[str]:
        with self.lock:
            return sorted(self.rooms)

    def say(self, msg: dict[str, Any], timeout_s: float = SAY_TIMEOUT_S) -> list[str]:
        """Queue a translation on its room's `tts-<lang>` track (from any thread); the listeners
        it reaches that way. None reached when this process does not serve the room, or did not
        decide within `timeout_s` (then the line is not queued either: the caller sends files)."""
        req = SayRequest.parse(msg)
        with self.lock:
            job = self.jobs.get(req.room)
        if job is None or job.loop is None or self.voices is None:
            return []
        deadline = time.monotonic() + timeout_s
        fut = asyncio.run_coroutine_threadsafe(job.say(req, deadline), job.loop)
        try:
            return fut.result(timeout_s)
        except TimeoutError:
            fut.cancel()
            raise


_state: AgentState | None = None


def _is_human(participant: Any) -> bool:
    from livekit import rtc
    return bool(participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_AGENT)


def _is_mic(publication: Any) -> bool:
    from livekit import rtc
    return bool(publication.kind == rtc.TrackKind.KIND_AUDIO
                and publication.source == rtc.TrackSource.SOURCE_MICROPHONE
                and not publication.name.startswith(TTS_TRACK_PREFIX))


class RoomJob:
    """One room's job: subscribe to human microphones, a Speaker per track, languages followed."""

    def __init__(self, ctx: Any, state: AgentState) -> None:
        assert state.bridge is not None
        self.ctx = ctx
        self.state = state
        self.bridge = state.bridge
        self.room_id = str(ctx.job.room.name)
        self.speakers: dict[str, Speaker] = {}  # track sid → speaker
        self.tasks: set[asyncio.Task[None]] = set()
        self.done = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.speaking = RoomVoices(ctx.room, self.room_id, state, self.humans, self._speaking_here)

    def engine_of(self, participant: Any) -> STT:
        """The speaker's recognition preference (`sttEngine` attribute) with the failover order
        behind it; the default when they have none (or one this process does not know)."""
        name = str(participant.attributes.get("sttEngine", "")).strip()
        return self.state.stt.get(name if name in self.state.stt.names() else None)

    def keyterms(self) -> tuple[str, ...]:
        """The room's glossary, from the LiveKit room's metadata (set by the app)."""
        import json
        try:
            meta = json.loads(self.ctx.room.metadata or "{}")
            return tuple(str(t)[:50] for t in meta.get("glossary") or ())[:100]
        except (ValueError, AttributeError, TypeError):
            return ()

    def options(self, identity: str) -> StreamOptions:
        """Key terms from the room's glossary (LiveKit room metadata, set by the app); usage
        metered to this room and speaker."""
        terms = self.keyterms()
        meter: UsageMeter | None = None
        if self.state.meter is not None:
            meter = self.state.meter.bound(self.room_id, identity)
        return StreamOptions(keyterms=terms, on_usage=meter)

    def language_of(self, participant: Any) -> str | None:
        lang = str(participant.attributes.get("language", "")).strip()
        if lang and self.engine_of(participant).supports(lang):
            return lang
        logger.warning("speaker has no usable language attribute", extra={
            "room_id": self.room_id, "speaker": participant.identity, "language": lang[:16]})
        return None

    def consider(self, publication: Any, participant: Any) -> None:
        if _is_human(participant) and _is_mic(publication) and not publication.subscribed:
            publication.set_subscribed(True)

    async def pump(self, track: Any, sid: str) -> None:
        """The track's audio to whichever Speaker serves it now (an engine change replaces it)."""
        from livekit import rtc
        stream = rtc.AudioStream.from_track(track=track, sample_rate=16000, num_channels=1)
        try:
            async for ev in stream:
                speaker = self.speakers.get(sid)
                if speaker is None:
                    return
                speaker.feed(bytes(ev.frame.data))
        finally:
            await stream.aclose()

    def on_subscribed(self, track: Any, publication: Any, participant: Any) -> None:
        # Checked again here: a subscription we did not ask for never reaches STT.
        if not (_is_human(participant) and _is_mic(publication)) or publication.sid in self.speakers:
            return
        lang = self.language_of(participant)
        if lang is None:
            return
        speaker = Speaker(self.engine_of(participant), self.bridge, self.room_id,
                          participant.identity, lang, self.options(participant.identity))
        self.speakers[publication.sid] = speaker
        task = asyncio.ensure_future(self.pump(track, publication.sid))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def on_unsubscribed(self, track: Any, publication: Any, participant: Any) -> None:
        speaker = self.speakers.pop(publication.sid, None)
        if speaker is not None:
            speaker.close()

    def restart(self, identity: str | None = None) -> None:
        """New recognition streams (a new engine) for a speaker, or everyone: each old stream ends
        (its last final delivered) and the new one takes the track from the next frame."""
        for sid, speaker in list(self.speakers.items()):
            participant = self.ctx.room.remote_participants.get(speaker.identity)
            if participant is None or identity not in (None, speaker.identity):
                continue
            speaker.close()
            self.speakers[sid] = Speaker(
                self.engine_of(participant), self.bridge, self.room_id, speaker.identity,
                self.language_of(participant) or speaker.language, self.options(speaker.identity))

    def on_metadata(self, *_: Any) -> None:
        """The room's glossary changed (the app sets the room's metadata): every speaker's key
        terms, from their next utterance on."""
        terms = self.keyterms()
        for speaker in self.speakers.values():
            speaker.stream.set_keyterms(terms)

    # ---- speaking: tts-<lang> tracks (agent.room_voices) ------------------------------------
    def humans(self) -> dict[str, Any]:
        return {p.identity: p for p in self.ctx.room.remote_participants.values() if _is_human(p)}

    def follow_languages(self, *_: Any) -> None:
        self.speaking.follow()

    def _speaking_here(self, identity: str) -> bool:
        """Whether `identity` has an unmuted microphone in this room (everyone hears it)."""
        p = self.ctx.room.remote_participants.get(identity)
        return p is not None and any(_is_mic(pub) and not pub.muted
                                     for pub in p.track_publications.values())

    async def say(self, req: SayRequest, deadline: float = math.inf) -> list[str]:
        return await self.speaking.say(req, deadline)

    def on_attributes(self, changed: dict[str, str], participant: Any) -> None:
        if "language" in changed:
            self.follow_languages()
        if "sttEngine" in changed:
            self.restart(participant.identity)
            return
        if "language" not in changed:
            return
        lang = self.language_of(participant)
        for speaker in self.speakers.values():
            if speaker.identity == participant.identity and lang and lang != speaker.language:
                speaker.set_language(lang)

    async def run(self) -> None:
        """Join, transcribe until the room has had no human for IDLE_LEAVE_S, then leave."""
        from livekit.agents import AutoSubscribe
        room = self.ctx.room
        room.on("track_published", self.consider)
        room.on("track_subscribed", self.on_subscribed)
        room.on("track_unsubscribed", self.on_unsubscribed)
        room.on("participant_attributes_changed", self.on_attributes)
        room.on("room_metadata_changed", self.on_metadata)
        room.on("participant_connected", self.follow_languages)
        room.on("participant_disconnected", self.follow_languages)
        room.on("disconnected", lambda *_: self.done.set())
        self.loop = asyncio.get_running_loop()
        try:
            await self.ctx.connect(auto_subscribe=AutoSubscribe.SUBSCRIBE_NONE)
            logger.info("agent joined room", extra={"room_id": self.room_id})
            for participant in room.remote_participants.values():
                for publication in participant.track_publications.values():
                    self.consider(publication, participant)
            self.follow_languages()
            await self._until_idle()
        finally:
            self.speaking.closing = True  # the last finals below are not spoken here
            for speaker in self.speakers.values():
                speaker.close()  # flushes each speaker's last final
            for task in list(self.tasks):
                task.cancel()
            await self.speaking.aclose()

    async def _until_idle(self) -> None:
        idle_since: float | None = None
        loop = asyncio.get_running_loop()
        while not self.done.is_set():
            humans = [p for p in self.ctx.room.remote_participants.values() if _is_human(p)]
            idle_since = None if humans else (idle_since or loop.time())
            if idle_since is not None and loop.time() - idle_since > IDLE_LEAVE_S:
                logger.info("no one left in the room; agent leaving", extra={"room_id": self.room_id})
                return
            try:
                await asyncio.wait_for(self.done.wait(), timeout=1.0)
            except TimeoutError:
                pass


async def entrypoint(ctx: Any) -> None:
    """One dispatch: serve the room unless this process already does, then tell the app."""
    state = _state
    assert state is not None and state.bridge is not None
    room_id = ctx.job.room.name
    with state.lock:
        duplicate = room_id in state.rooms
        state.rooms.add(room_id)
    if duplicate:  # a second dispatch to a room this process already serves
        logger.info("room already served here; leaving the duplicate job", extra={"room_id": room_id})
        ctx.shutdown("duplicate dispatch")
        return
    state.bridge.beat_now()
    job = RoomJob(ctx, state)
    with state.lock:
        state.jobs[room_id] = job
    try:
        await job.run()
    finally:
        with state.lock:
            state.rooms.discard(room_id)
            state.jobs.pop(room_id, None)
        state.bridge.beat_now()
        ctx.shutdown("room idle")


def build_server(state: AgentState, settings: Settings) -> Any:
    """The livekit-agents server: explicit dispatch by name, jobs on threads of this process,
    load by rooms served (CPU-based load would refuse rooms while Whisper is busy)."""
    from livekit.agents import AgentServer, JobExecutorType

    global _state
    _state = state
    max_rooms = settings.agent.max_rooms
    server = AgentServer(
        job_executor_type=JobExecutorType.THREAD,
        load_fnc=lambda: min(1.0, len(state.serving()) / max_rooms),
        load_threshold=1.0,
        num_idle_processes=1,
        ws_url=settings.livekit.url,
        api_key=settings.livekit.api_key,
        api_secret=settings.livekit.api_secret,
        host="127.0.0.1",
        port=settings.agent.http_port,
        log_level=settings.log_level,
    )
    server.rtc_session(entrypoint, agent_name=settings.livekit.agent_name)
    if state.bridge is not None:
        bridge = state.bridge
        server.on("worker_registered", lambda *_: bridge.beat_now(registered=True))
    return server


def make_bridge(state: AgentState, settings: Settings) -> BridgeClient:
    """The bridge to the app: APP_URL (default the local web process on PORT), the shared secret
    (BRIDGE_SECRET or var/bridge.key), and an outbox (AGENT_OUTBOX, default under var/)."""
    assert settings.agent.outbox is not None  # Settings fills it in from var_dir
    return BridgeClient(settings.agent.app_url, settings.bridge_secret, settings.agent.outbox,
                        agent_id=uuid.uuid4().hex[:12], rooms=state.serving)


def run(state: AgentState, settings: Settings) -> None:
    """Run the agent until the process ends (on the LiveKit server of `settings.livekit`)."""
    state.bridge = make_bridge(state, settings)
    state.bridge.start()
    server = build_server(state, settings)
    asyncio.run(server.run(devmode=False))
