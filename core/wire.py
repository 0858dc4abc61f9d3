"""The wire contract: every Socket.IO payload the web sends and receives (README, "Events"), the
room history's items, the agent bridge's bodies, and the speech link's messages (core.speech over
a local socket, core.speech_bus over Redis streams).

Payloads are TypedDicts: on the wire they are the plain dicts Socket.IO and JSON send, so typing
them costs the fan-out nothing at run time, and mypy checks each builder and each reader against
them. A payload built in more than one place has one builder here (a caption: the fan-out, its
failure path and the history). `CLIENT_EVENTS` lists every client → server event; app.clients
registers a handler only for an event listed there, and a unit test checks that the handlers
registered are exactly these.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NotRequired, Required, TypedDict

if TYPE_CHECKING:
    from engines.stt.base import SpeechEvent

SPEECH_ERROR = "speech-error"  # a string: speech events' errors
APP_ERROR = "app-error"  # AppError: every other event's


@functools.cache
def fields(payload: Any) -> frozenset[str]:
    """The field names a TypedDict allows (its required and optional keys): what a handler
    accepts, and nothing else."""
    return frozenset(payload.__required_keys__ | payload.__optional_keys__)


# ---------------------------------------------------------------------------------------------
# Client → server (Socket.IO)


class ConnectAuth(TypedDict):
    """The `auth` of the Socket.IO handshake: a token from POST /api/session."""

    token: str


class JoinRoom(TypedDict):
    """`join-room`: the room's code, as a string or in this object."""

    roomCode: str


class SpeechTranscript(TypedDict, total=False):
    """`speech-transcript`: one typed (or client-recognised) final."""

    transcript: Required[str]
    sourceLang: Required[str]
    soloMode: bool
    soloTargetLang: str
    clientId: str  # the page's id for it: sent again, it is the same message
    speechEndAt: float
    roomId: str  # the room it was said in (a resend after moving rooms is refused)


class ClientError(TypedDict):
    """`client-error`: browser telemetry."""

    code: str
    message: str
    details: NotRequired[dict[str, Any] | str]


class StartSpeech(TypedDict, total=False):
    """`start-speech`: an audio session; `speech-data` chunks (binary PCM16) follow."""

    languageCode: Required[str]
    soloMode: bool
    soloTargetLang: str
    encoding: Literal["LINEAR16"]
    sampleRateHertz: int


class StartVoiceSession(TypedDict, total=False):
    """`start-voice-session`: a LiveKit token for the room the socket is in."""

    roomId: str
    languageCode: str
    soloMode: bool
    soloTargetLang: str
    listenOnly: bool


@dataclass(frozen=True)
class Inbound:
    """A client → server event: its payload's TypedDict (None: it takes no object) and the event
    its bad input is also reported as, besides the error ack."""

    payload: Any
    error_event: str = APP_ERROR

    @property
    def fields(self) -> frozenset[str]:
        return fields(self.payload) if self.payload is not None else frozenset()


CLIENT_EVENTS: dict[str, Inbound] = {
    "join-room": Inbound(JoinRoom),
    "leave-room": Inbound(None),
    "speech-transcript": Inbound(SpeechTranscript, SPEECH_ERROR),
    "ping": Inbound(None),
    "client-error": Inbound(ClientError),
    "start-speech": Inbound(StartSpeech, SPEECH_ERROR),
    "speech-data": Inbound(None, SPEECH_ERROR),  # binary PCM16, at most 64 KiB
    "stop-speech": Inbound(None, SPEECH_ERROR),
    "start-voice-session": Inbound(StartVoiceSession, SPEECH_ERROR),
    "stop-voice-session": Inbound(None, SPEECH_ERROR),
}

# Acks: every handler answers `{ok: true, ...its result}` or `{ok: false, error}`.


class ErrorBody(TypedDict):
    code: str
    message: str
    retryAfter: NotRequired[int]  # rate_limited: seconds


class Refused(TypedDict):
    ok: Literal[False]
    error: ErrorBody


class JoinRoomResult(TypedDict):
    roomId: str
    code: str


class RoomResult(TypedDict):
    """`leave-room`'s and `stop-voice-session`'s."""

    roomId: str


class TranscriptResult(TypedDict):
    utteranceId: str
    duplicate: bool


class PingResult(TypedDict):
    serverTime: float


class SpeechSessionResult(TypedDict):
    """`start-speech`'s (with maxChunkBytes) and `stop-speech`'s."""

    sessionId: str
    maxChunkBytes: NotRequired[int]


class VoiceSessionResult(TypedDict):
    roomId: str
    listenOnly: bool


# ---------------------------------------------------------------------------------------------
# Server → client (Socket.IO)


class Participant(TypedDict):
    """A room member (`user-joined`, and `joined-room`'s `you` and `participants`)."""

    userId: str
    displayName: str
    language: str


class JoinedRoom(TypedDict):
    roomId: str
    code: str
    you: Participant
    participants: list[Participant]


class UserRef(TypedDict):
    """`user-left` and `user-stopped-voice`."""

    userId: str


class RecognizedSpeech(TypedDict):
    """`recognized-speech`: the speaker's own final, as stored (also handle_transcript's result)."""

    id: str
    utteranceId: str
    text: str
    sourceLang: str
    speakerName: str
    receivedAt: float
    duplicate: bool
    utteranceKey: str
    part: int


class Timings(TypedDict, total=False):
    """A caption's way through the service (epoch ms, and how long the engine took)."""

    speechEnd: float | None
    received: float
    enqueued: float | None
    started: float
    translated: float
    translationMs: float
    emitted: float


class Caption(TypedDict):
    """What every caption of one segment in one language carries: the live ones and a history
    item. `id` is the message's stable id (message_id): a redelivery is recognised by it."""

    id: str
    utteranceId: str
    utteranceKey: str
    part: int
    originalText: str
    sourceLang: str
    targetLang: str
    speakerName: str


class TranslatedMessage(Caption):
    """`translated-message`: to one listener of the room."""

    translatedText: str
    fromUserId: str
    toUserId: str
    timings: Timings


class SoloTranslated(Caption):
    """`solo-translated`: to the speaker, in solo mode."""

    translatedText: str
    timings: Timings


class TranslationFailed(Caption):
    """`translation-failed`: no engine could translate it; the original stands."""

    fromUserId: str
    reason: str


class HistoryItem(Caption):
    """One item of GET /api/rooms/<id>/messages: a caption in the reader's language (None when
    no translation into it was made) and when it was received and said."""

    translatedText: str | None
    fromUserId: str
    speakerId: str  # the same as fromUserId: the history's own name for it
    receivedAt: float
    speechEndAt: float | None


class InterimTranscript(TypedDict):
    """`interim-transcript`: the words after the utterance's committed parts, as heard."""

    speakerId: str
    text: str
    sourceLang: str
    utteranceKey: str
    part: int


class InterimTranslation(TypedDict):
    """`interim-translation`: an interim in one listener's language."""

    speakerId: str
    utteranceKey: str
    part: int
    text: str
    sourceLang: str
    targetLang: str


class TtsAudio(TypedDict):
    """`tts-audio`: a translation read aloud, as a file behind a ticketed URL."""

    messageId: str  # the caption's id
    url: str
    language: str
    durationMs: float


# `speech-notice`: an engine moved to another (or back), or a premium one was refused; `kind`
# ("translation", "tts") for a refused listener engine. `from` is a Python keyword.
SpeechNotice = TypedDict("SpeechNotice", {
    "code": str, "engine": str, "from": str, "message": str, "kind": NotRequired[str]})


class AppError(TypedDict):
    """`app-error`: the event whose input was bad, and the error its ack carries."""

    event: str
    code: str
    message: str
    retryAfter: NotRequired[int]


class Resync(TypedDict):
    """`resync`: messages since `since` (epoch ms) may be lost; read them from the history."""

    since: float


class GlossaryUpdated(TypedDict):
    roomId: str
    terms: list[str]


class VoiceSessionReady(TypedDict):
    roomId: str
    liveKitToken: str
    liveKitUrl: str
    listenOnly: bool


class UserStartedVoice(TypedDict):
    userId: str
    language: str | None
    listenOnly: bool


class VoiceSessionEnded(TypedDict):
    roomId: str


class VoicePresence(TypedDict):
    roomId: str
    userId: str
    inVoice: bool


SERVER_EVENTS: dict[str, Any] = {
    "joined-room": JoinedRoom,
    "user-joined": Participant,
    "user-left": UserRef,
    "recognized-speech": RecognizedSpeech,
    "translated-message": TranslatedMessage,
    "solo-translated": SoloTranslated,
    "translation-failed": TranslationFailed,
    "interim-transcript": InterimTranscript,
    "interim-translation": InterimTranslation,
    "tts-audio": TtsAudio,
    "speech-notice": SpeechNotice,
    SPEECH_ERROR: str,
    APP_ERROR: AppError,
    "resync": Resync,
    "glossary-updated": GlossaryUpdated,
    "voice-session-ready": VoiceSessionReady,
    "user-started-voice": UserStartedVoice,
    "user-stopped-voice": UserRef,
    "voice-session-ended": VoiceSessionEnded,
    "voice-presence": VoicePresence,
}

# Events whose payload carries the message's stable id, and under which field: a web process
# forwards each to a channel once (app.message_queue).
STABLE_IDS = {"translated-message": "id", "solo-translated": "id", "translation-failed": "id",
              "tts-audio": "messageId"}


def message_id(utterance_id: str, target: str, *, solo: bool = False) -> str:
    """The stable id of an utterance's message in one language (its speech's too)."""
    return f"{utterance_id}:solo:{target}" if solo else f"{utterance_id}:{target}"


def caption(*, message: str, utterance_id: str, utterance_key: str, part: int, original: str,
            source: str, target: str, speaker_name: str) -> Caption:
    """The fields every caption of a segment in `target` shares (`message`: its message_id)."""
    return {"id": message, "utteranceId": utterance_id, "utteranceKey": utterance_key,
            "part": part, "originalText": original, "sourceLang": source, "targetLang": target,
            "speakerName": speaker_name}


def translated_message(c: Caption, text: str, speaker_id: str, listener_id: str,
                       timings: Timings) -> TranslatedMessage:
    return {**c, "translatedText": text, "fromUserId": speaker_id, "toUserId": listener_id,
            "timings": timings}


def solo_translated(c: Caption, text: str, timings: Timings) -> SoloTranslated:
    return {**c, "translatedText": text, "timings": timings}


def translation_failed(c: Caption, speaker_id: str, reason: str) -> TranslationFailed:
    return {**c, "fromUserId": speaker_id, "reason": reason}


def history_item(c: Caption, text: str | None, speaker_id: str, received_at: float,
                 speech_end_at: float | None) -> HistoryItem:
    return {**c, "translatedText": text, "fromUserId": speaker_id, "speakerId": speaker_id,
            "receivedAt": received_at, "speechEndAt": speech_end_at}


def participant(user_id: str, display_name: str, language: str) -> Participant:
    return {"userId": user_id, "displayName": display_name, "language": language}


def speech_notice(code: str, engine: str, previous: str, message: str,
                  kind: str | None = None) -> SpeechNotice:
    notice: SpeechNotice = {"code": code, "engine": engine, "from": previous, "message": message}
    if kind is not None:
        notice["kind"] = kind
    return notice


# ---------------------------------------------------------------------------------------------
# The agent's bridge (POST /internal/*, signed; agent.bridge_client → app.bridge)


class BridgeTranscript(TypedDict, total=False):
    """POST /internal/transcripts: a final (kept in the agent's outbox until taken), an interim,
    or a notice (`text` is its code; `engine` now in use, `previous` the one left)."""

    kind: Literal["final", "interim", "notice"]  # "final" when absent
    speakerId: Required[str]
    roomId: str | None
    text: Required[str]
    sourceLang: Required[str]
    soloTargetLang: str
    idempotencyKey: str  # a final's: its utterance key
    utteranceKey: str
    part: int
    speechEndAt: float
    engine: str
    previous: str


class AgentHeartbeat(TypedDict):
    """POST /internal/agent-heartbeat: the rooms an agent serves (`registered`: it just
    registered with LiveKit)."""

    agentId: str
    rooms: list[str]
    registered: NotRequired[bool]


# ---------------------------------------------------------------------------------------------
# The speech link: requests to a speech process (`op`) and what it sends back (`type`)


class Envelope(TypedDict, total=False):
    """Besides its op's fields, a request may carry its `id` (its reply names it) and, on the
    Redis link, the requester's reply stream and the time (epoch s) after which nobody waits."""

    id: str
    replyTo: str
    deadline: float


class StartOp(Envelope):
    """An audio session: its audio, then `stop` and `keyterms`, follow in order."""

    op: Literal["start"]
    session: str  # 32 characters
    language: str
    rate: int
    engine: str  # the speaker's recogniser ("": the default)
    keyterms: list[str]  # the room's glossary
    user: str
    room: str | None
    solo: str | None  # solo mode's target language


class StopOp(Envelope):
    op: Literal["stop"]
    session: NotRequired[str]  # on the Redis link the session's own stream says whose


class KeytermsOp(Envelope):
    op: Literal["keyterms"]
    keyterms: list[str]
    session: NotRequired[str]


class PingOp(Envelope):
    op: Literal["ping"]


class TtsOp(Envelope):
    op: Literal["tts"]
    text: str
    language: str
    voice: str | None
    engine: str


class VoicesOp(Envelope):
    op: Literal["voices"]
    engine: str
    language: str


class SayOp(Envelope):
    """A line for a voice room's `tts-<language>` track; listeners are (user, voice, engine)."""

    op: Literal["say"]
    room: str
    utterance: str
    language: str
    source: str
    speaker: str
    text: str
    at: float
    listeners: list[list[str]]
    heard: bool


class TranslateOp(Envelope):
    op: Literal["translate"]
    engine: str
    text: str
    source: str
    targets: list[str]
    glossary: list[str]


OPS = frozenset({"start", "stop", "keyterms", "ping", "tts", "voices", "say", "translate"})
JOB_OPS = frozenset({"start", "ping", "tts", "voices", "say", "translate"})  # on the jobs streams


def start(session: str, language: str, rate: int, engine: str, keyterms: list[str], user: str,
          room: str | None, solo: str | None) -> StartOp:
    return {"op": "start", "session": session, "language": language, "rate": rate,
            "engine": engine, "keyterms": keyterms, "user": user, "room": room, "solo": solo}


def stop() -> StopOp:
    return {"op": "stop"}


def tts(text: str, language: str, voice: str | None, engine: str) -> TtsOp:
    return {"op": "tts", "text": text, "language": language, "voice": voice, "engine": engine}


class Recognized(TypedDict):
    """A recogniser's event as every hop carries it (engines.stt.base.SpeechEvent). A notice's
    `text` is its code, `engine` who made the event (a notice: the engine now in use) and
    `previous` the one left."""

    text: str
    language: str
    utteranceKey: str
    startMs: float
    endMs: float
    decodeMs: float
    speechEndAt: float | None
    engine: str
    previous: str
    part: int


def recognized(e: SpeechEvent) -> Recognized:
    return {"text": e.text, "language": e.language, "utteranceKey": e.utterance_key,
            "startMs": e.start_ms, "endMs": e.end_ms, "decodeMs": round(e.decode_ms, 1),
            "speechEndAt": e.speech_end_at, "engine": e.engine, "previous": e.previous,
            "part": e.part}


class SpeechResult(Recognized):
    """An interim, final or notice of a session."""

    type: Literal["interim", "final", "notice"]
    session: str
    sentAt: float


def speech_result(session: str, e: SpeechEvent, sent_at: float) -> SpeechResult:
    return {"type": e.kind, "session": session, **recognized(e), "sentAt": sent_at}


class Who(TypedDict):
    """Who said a session's speech (its `start`'s user, room, language and solo target)."""

    user: str
    room: str | None
    language: str
    solo: str | None


class Orphan(SpeechResult):
    """A final on lt:speech:orphans: its web process is gone, so it says who said it."""

    who: Who


class Started(TypedDict):
    """The Redis link: which speech process took a session."""

    type: Literal["started"]
    session: str
    owner: str


class Ended(TypedDict):
    type: Literal["ended"]
    session: str


class SessionError(TypedDict):
    """A session failed; only a known `code` (a refused language, overload) may be shown."""

    type: Literal["error"]
    session: str
    message: str
    code: NotRequired[Literal["unsupported_language", "overloaded"]]


class Pong(TypedDict):
    type: Literal["pong"]
    status: dict[str, Any]  # the default recogniser's status, with every engine's


class Reply(TypedDict):
    """A request's answer: the op's name as `type`, the request's id, and `ok`; when not ok, a
    `code` and perhaps a `message` (and for `translate`, whether to try again)."""

    type: str
    id: str | None
    ok: bool
    code: NotRequired[str]
    message: NotRequired[str]
    retryable: NotRequired[bool]


class TtsReply(Reply, total=False):
    wav: str  # base64
    durationMs: float
    engine: str  # the one that made it (a fallback's name, when one did)
    voice: str
    voiceKey: str  # the voice it is filed under ("": the engine's default)
    cached: bool
    elapsedMs: float


class VoicesReply(Reply, total=False):
    voices: list[dict[str, str]]  # [{id, name}]


class SayReply(Reply, total=False):
    covered: list[str]  # the listeners the track reaches


class Translated(TypedDict):
    text: str
    elapsedMs: float
    usage: dict[str, float]


class TranslateReply(Reply, total=False):
    translations: dict[str, Translated]  # by target language

