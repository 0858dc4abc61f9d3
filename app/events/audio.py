"""The Socket.IO audio path: `start-speech`, `speech-data` (binary PCM16 chunks), `stop-speech`.

Each event is validated here and handed to the speech process through the web's SpeechLink
(app.speech_link); a socket that goes away has its session stopped (its last final is still
delivered).

A client may stream at once, without waiting for start-speech's answer. Each event runs on a green
thread of its own (Socket.IO's async handlers) and start-speech yields (quota, database, the speech
link), so its audio can be handled before the session exists: it is kept, up to EARLY_BYTES, and
handed on first, in the order it came.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import request

from app import validation as v
from app.clients import Client, clients, handler
from app.extensions import services, socketio
from app.speech_link import AudioSession, SpeechLink
from app.transcripts import publish_notice
from core import premium, wire
from core.db import session_scope
from core.models import Room, User
from core.speech import SAMPLE_RATES

MAX_CHUNK_BYTES = 64 * 1024  # documented limit for one speech-data chunk (~2 s at 16 kHz)
ENCODINGS = ("LINEAR16",)
EARLY_BYTES = 256 * 1024  # audio that may wait for start-speech's answer (8 s at 16 kHz, 2.7 s at 48)


@dataclass
class _Early:
    """A socket's start-speech under way, and the audio that came meanwhile. `order` becomes the
    session's FIFO lock, so later chunks queue behind this audio."""

    rate: int
    room_id: str | None  # None: solo
    order: threading.Lock = field(default_factory=threading.Lock)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    session: AudioSession | None = None  # set once it exists and the chunks were handed on
    done: threading.Event = field(default_factory=threading.Event)  # start-speech is over
    stopped: bool = False  # stop-speech came: audio after it is refused, as after any stop


_early: dict[str, _Early] = {}  # sid → its start-speech under way


def _link() -> SpeechLink:
    lk: SpeechLink = services().speech
    return lk


@handler("start-speech", counted=False)
def on_start_speech(client: Client, payload: Any = None) -> wire.SpeechSessionResult:
    data = v.as_object(payload, "start-speech")
    v.only_keys(data, wire.fields(wire.StartSpeech), "start-speech")
    language = v.language(data, "languageCode")
    solo = v.boolean(data, "soloMode")
    solo_target = v.language(data, "soloTargetLang", required=False)
    encoding = data.get("encoding", "LINEAR16")
    if encoding not in ENCODINGS:
        raise v.BadInput("unsupported_encoding",
                         f"encoding must be one of {', '.join(ENCODINGS)} (16-bit PCM, mono)")
    rate = data.get("sampleRateHertz", 16000)
    if isinstance(rate, bool) or rate not in SAMPLE_RATES:
        raise v.BadInput("unsupported_sample_rate",
                         f"sampleRateHertz must be one of {', '.join(map(str, SAMPLE_RATES))}")
    if solo and not solo_target:
        raise v.BadInput("missing_field", "soloTargetLang is required in solo mode")
    if not solo and client.room_id is None:
        raise v.BadInput("not_in_room", "join a room (or use solo mode) before speaking", 403)
    sid = request.sid  # type: ignore[attr-defined]
    lk = _link()
    if sid in lk.by_sid or sid in _early:
        raise v.BadInput("already_speaking", "a speech session is already running; stop it first")
    room_id = None if solo else client.room_id
    # Nothing above yields: audio handled from here on finds this and waits for the session.
    early = _early[sid] = _Early(int(rate), room_id)
    try:
        services().quotas.take("speech", user=client.user_id, ip=client.ip)
        chosen, keyterms = _preferences(client.user_id, room_id)
        engine, refused = premium.policy(services().settings).engine_for(
            "stt", chosen, client.user_id, room_id)
        if refused:  # a premium engine this speaker may not use now: told why, local instead
            publish_notice(client.user_id, room_id, refused, engine,
                           chosen or services().settings.engines.stt)
        if early.done.is_set():
            raise v.BadInput("no_session", "you left before speech started")
        session = AudioSession(uuid.uuid4().hex, sid, client.user_id, room_id, str(language),
                               solo_target if solo else None, int(rate), engine, keyterms,
                               order=early.order)
        lk.begin(session)  # may wait for the speech process: audio keeps coming meanwhile
        with session.order:  # the audio that came early first; later chunks wait behind it
            for pcm in early.chunks:
                lk.audio(session.session_id, pcm)
            early.session = session
    finally:
        _end_early(sid, early, tell=True)
    return {"sessionId": session.session_id, "maxChunkBytes": MAX_CHUNK_BYTES}


def _end_early(sid: str, early: _Early, tell: bool) -> None:
    """start-speech is over (or its socket left): audio that came meanwhile and was not handed on
    is dropped, and the speaker told."""
    if _early.get(sid) is early:
        del _early[sid]
    dropped = early.session is None and bool(early.chunks)
    early.chunks.clear()
    early.done.set()
    if dropped and tell:
        socketio.emit("speech-error", "speech did not start: the audio sent before its answer "
                                      "was dropped", to=sid)


def _preferences(user_id: str, room_id: str | None) -> tuple[str, tuple[str, ...]]:
    """The speaker's recognition engine and the room's glossary (its key terms)."""
    with session_scope(services().settings.database_url) as s:
        user = s.get(User, user_id)
        room = s.get(Room, room_id) if room_id else None
        return (user.stt_engine if user else ""), tuple(room.terms() if room else ())


@handler("speech-data", counted=False)
def on_speech_data(client: Client, payload: Any = None) -> None:
    lk = _link()
    sid = request.sid  # type: ignore[attr-defined]
    # Until start-speech is over (its session may already exist), audio goes through its buffer.
    to: _Early | AudioSession | None = _early.get(sid)
    if to is None:
        to = lk.sessions.get(lk.by_sid.get(sid, ""))
    if to is None:
        raise v.BadInput("no_session", "send start-speech before speech-data")
    pcm = _chunk(payload)
    if isinstance(to, _Early):
        _keep(client, lk, to, pcm)
    else:
        with to.order:  # counted and sent in the order the chunks came
            _send(client, lk, to, pcm)
    return None


def _chunk(payload: Any) -> bytes:
    """One speech-data chunk: binary PCM16 of at most MAX_CHUNK_BYTES."""
    if not isinstance(payload, (bytes, bytearray)):
        raise v.BadInput("bad_type", "speech-data must be binary PCM16 audio")
    if len(payload) > MAX_CHUNK_BYTES:
        raise v.BadInput("too_large", f"a speech-data chunk may be at most {MAX_CHUNK_BYTES} bytes", 413)
    if len(payload) % 2:
        raise v.BadInput("bad_audio", "PCM16 audio has an even number of bytes")
    return bytes(payload)


def _take_audio(client: Client, size: int, rate: int) -> None:
    # Hundredths of a second of audio: at most 1.5 times real time over a minute, per user.
    services().quotas.take("audio", user=client.user_id, ip=client.ip,
                           cost=max(1, round(size * 50 / rate)))


def _send(client: Client, lk: SpeechLink, session: AudioSession, pcm: bytes) -> None:
    """Count a chunk and send it (under the session's order lock)."""
    _take_audio(client, len(pcm), session.rate)
    lk.audio(session.session_id, pcm)


def _keep(client: Client, lk: SpeechLink, early: _Early, pcm: bytes) -> None:
    """A chunk that came while start-speech was under way: counted and kept for the session, or
    sent if it began while this chunk waited its turn."""
    if early.stopped:
        raise v.BadInput("no_session", "no speech session is running")
    with early.order:  # in the order the chunks came (the session's lock, once it exists)
        session = early.session
        if session is not None:
            if lk.by_sid.get(session.sid) != session.session_id:  # stopped meanwhile
                raise v.BadInput("no_session", "send start-speech before speech-data")
            _send(client, lk, session, pcm)
            return
        if early.done.is_set():
            raise v.BadInput("no_session", "speech did not start; send start-speech again")
        if early.size + len(pcm) > EARLY_BYTES:
            raise v.BadInput("too_early", f"at most {EARLY_BYTES // 1024} KiB of audio may wait for "
                                          "start-speech's answer; wait for it", 429)
        _take_audio(client, len(pcm), early.rate)
        early.chunks.append(pcm)
        early.size += len(pcm)


@handler("stop-speech", counted=False)
def on_stop_speech(client: Client, *_: Any) -> wire.SpeechSessionResult:
    lk = _link()
    early = _early.get(request.sid)  # type: ignore[attr-defined]
    if early is not None:  # start-speech is under way: this stops the session it makes
        early.stopped = True
        early.done.wait()
    session_id = lk.by_sid.get(request.sid)  # type: ignore[attr-defined]
    if session_id is None:
        raise v.BadInput("no_session", "no speech session is running")
    lk.by_sid.pop(request.sid, None)  # type: ignore[attr-defined]
    session = lk.sessions.get(session_id)
    if session is None:
        lk.stop(session_id)
    else:
        with session.order:  # after every chunk that came before it
            lk.stop(session_id)
    return {"sessionId": session_id}


def _stop_on_leave(sid: str, _: Client, room_id: str) -> None:
    """Leaving a room ends the socket's audio session in it: nothing more it says reaches it."""
    lk: SpeechLink | None = services().speech
    early = _early.get(sid)
    if early is not None and early.room_id == room_id:
        _end_early(sid, early, tell=False)  # the start-speech under way makes no session
    session_id = lk.by_sid.get(sid) if lk is not None else None
    if lk is None or session_id is None or lk.sessions[session_id].room_id != room_id:
        return
    lk.by_sid.pop(sid, None)  # no more audio from this socket reaches the session
    try:
        with lk.sessions[session_id].order:  # after the chunks already on their way
            lk.stop(session_id)  # what was said before leaving still comes out as its final
    except v.BadInput:
        lk.end(session_id)  # the speech process is away: its sessions are gone anyway
    socketio.emit("speech-error", "you left the room; speech stopped", to=sid)


def _stop_on_disconnect(sid: str, _: Client) -> None:
    """A socket that goes away stops its audio session, if any."""
    lk: SpeechLink | None = services().speech
    early = _early.get(sid)
    if early is not None:
        _end_early(sid, early, tell=False)
    if lk is None:
        return
    session_id = lk.by_sid.get(sid)
    if session_id:
        try:
            lk.stop(session_id)
        except v.BadInput:
            lk.end(session_id)


clients.when_gone(_stop_on_disconnect)
clients.when_left(_stop_on_leave)
