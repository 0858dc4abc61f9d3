"""A local fake of the xAI API: a real HTTP/WebSocket server on 127.0.0.1 speaking the wire protocol
our clients speak to api.x.ai (docs/providers/xai.md), with knobs to refuse, fail, stall, drop,
send malformed frames and answer slowly, and a record of everything it was sent.

- `WS /v1/stt`: checks the auth header, says `transcript.created`, takes binary PCM, answers with
  `transcript.partial` (a word more per 0.3 s of audio heard, and at least one per 0.5 s of audio,
  as xAI's partials come "about every 500 ms"), and on `audio.done` a locked
  `transcript.partial` (is_final, speech_final) with the whole text and `transcript.done`. What a
  turn "hears" is the next text of `script` (the last one repeats). With `locks`, words are locked
  in chunks while the audio goes (each an is_final partial with its `start`, `duration` and
  `words`' times), interims then carry the words after them, and the end only the rest.
- `POST /v1/chat/completions`: the OpenAI-compatible answer; the translation of each target asked
  for in the system prompt's JSON shape is `translate(text, target)`, `text` being the "text" of
  the user message's JSON data object (the earlier utterances and glossary beside it are read by
  the tests from `chat_requests`).
- `POST /v1/tts`: raw 16-bit PCM at the requested rate (a tone, 50 ms per character);
  `GET /v1/tts/voices`: the voice list.

It runs on its own thread and event loop, so tests in this process and the service's child
processes can all reach it.
"""
from __future__ import annotations

import asyncio
import json
import math
import re
import struct
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

WRONG_KEY = {"code": "Client specified an invalid argument",
             "error": "Incorrect API key provided: xa***ng. You can obtain an API key from "
                      "https://console.x.ai."}
STATUS_BODIES = {
    401: {"code": "Unauthenticated", "error": "No API key provided."},
    429: {"code": "Too many requests", "error": "Rate limit exceeded for model."},
    500: {"code": "Internal error", "error": "The service encountered an internal error."},
    503: {"code": "Unavailable", "error": "The service is temporarily unavailable."},
}


class FakeXAI:
    def __init__(self, key: str = "xai-test-key") -> None:
        self.key = key
        # Knobs (set any time; each applies from the next request or frame).
        self.refuse: int | None = None  # answer every request / upgrade with this status
        self.stall = False  # accept, then never answer
        self.drop_after_bytes: int | None = None  # STT: abort the TCP connection after this much audio
        self.error_after_bytes: int | None = None  # STT: an `error` event after this much audio
        self.malformed = False  # STT: a frame that is not JSON; chat: content that is not the JSON asked
        self.delay_s = 0.0  # before every answer and event
        self.delays: dict[str, float] = {}  # per kind ("stt", "chat", "tts"), instead of delay_s
        self.text_in_done = False  # STT: the whole text in `transcript.done`, no locked partial
        # STT: lock chunks of this many words while the audio goes, as soon as they were heard
        self.locks: list[int] = []
        self.cumulative_locks = False  # STT: each locked chunk (and interim) repeats those before
        self.rest_in_done = False  # STT: only the words not locked in `transcript.done`, no locked partial
        # STT: lock the text, formatted (a full stop), with speech_final after `endpointing` ms of quiet
        self.endpointing = False
        self.script: list[str] = ["hello world"]
        # STT, instead of `script`: one long recording (16 kHz PCM) and its words with their ends in
        # it (s). A turn is placed in the recording by its first loud audio; a word shows in the
        # interims as soon as the audio heard reaches its end, and the words heard are locked every
        # `lock_every_s` of audio (xAI locks chunks of ~3 s): a provider that answers at once.
        self.recording: tuple[bytes, list[tuple[str, float]]] | None = None
        self.lock_every_s = 3.0
        self.translate: Callable[[str, str], str] = lambda text, target: f"[{target}] {text}"
        self.voices = [{"voice_id": "eve", "name": "Eve"}, {"voice_id": "ara", "name": "Ara"},
                       {"voice_id": "rex", "name": "Rex"}]
        # Records.
        self.stt_turns: list[dict[str, Any]] = []
        self.chat_requests: list[dict[str, Any]] = []
        self.tts_requests: list[dict[str, Any]] = []
        self.refused: list[tuple[str, int]] = []
        self._turn_index = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---- life ----
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeXAI:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            app = web.Application()
            app.router.add_get("/v1/stt", self._stt)
            app.router.add_post("/v1/chat/completions", self._chat)
            app.router.add_post("/v1/tts", self._tts)
            app.router.add_get("/v1/tts/voices", self._voices)
            self._runner = web.AppRunner(app, handle_signals=False)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-xai", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake xAI server did not start")
        return self

    def stop(self) -> None:
        loop, runner = self._loop, self._runner
        if loop is None or runner is None:
            return
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def reset(self) -> None:
        """Knobs back to a healthy provider; records cleared."""
        self.refuse = self.drop_after_bytes = self.error_after_bytes = None
        self.stall = self.malformed = self.text_in_done = self.endpointing = False
        self.locks = []
        self.cumulative_locks = self.rest_in_done = False
        self.delay_s = 0.0
        self.delays = {}
        self.script = ["hello world"]
        self.recording = None
        self.lock_every_s = 3.0
        self._turn_index = 0
        for record in (self.stt_turns, self.chat_requests, self.tts_requests, self.refused):
            record.clear()

    @property
    def requests(self) -> int:
        """Everything that reached it, refused or not."""
        return len(self.stt_turns) + len(self.chat_requests) + len(self.tts_requests) + len(self.refused)

    # ---- shared ----
    def _auth(self, request: web.Request, what: str) -> web.Response | None:
        """The refusal for this request, if any: no/malformed Authorization 401, a wrong key 400
        (as xAI answers), or the `refuse` knob's status."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            status, body = 401, STATUS_BODIES[401]
        elif header[7:] != self.key:
            status, body = 400, WRONG_KEY
        elif self.refuse is not None:
            status, body = self.refuse, STATUS_BODIES.get(self.refuse, {"code": "error", "error": "refused"})
        else:
            return None
        self.refused.append((what, status))
        headers = {"Retry-After": "1"} if status == 429 else {}
        return web.json_response(body, status=status, headers=headers)

    async def _pause(self, kind: str = "") -> None:
        delay = self.delays.get(kind, self.delay_s)
        if delay:
            await asyncio.sleep(delay)
        while self.stall:
            await asyncio.sleep(0.05)

    # ---- speech to text ----
    async def _stt(self, request: web.Request) -> web.StreamResponse:
        refusal = self._auth(request, "stt")
        if refusal is not None:
            return refusal
        text = self.script[min(self._turn_index, len(self.script) - 1)]
        self._turn_index += 1
        turn: dict[str, Any] = {"headers": dict(request.headers),
                                "query": {k: request.query.getall(k) for k in request.query},
                                "audio_bytes": 0, "frames": 0, "done": False, "text": text,
                                "opened_at": time.time(), "done_at": None, "answered_at": None,
                                "locked": []}  # locked partials: text, start, duration, words_end (s), at
        self.stt_turns.append(turn)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await self._pause()
        await ws.send_json({"type": "transcript.created", "id": str(uuid.uuid4())})
        rate = int(request.query.get("sample_rate", "16000"))
        if self.recording is not None:
            return await self._stt_recording(ws, turn, self.recording)
        words = text.split()
        shown = told = 0
        quiet_ms = 0.0
        pause_ms = float(request.query.get("endpointing", "0") or 0)
        locked = False
        sizes = list(self.locks)
        done_n = 0  # words locked
        lock_s = 0.0  # where the audio of the next chunk starts (s)

        async def lock(n: int, at_s: float, suffix: str = "", speech_final: bool = False) -> None:
            """Lock the next `n` words, heard up to `at_s`."""
            nonlocal done_n, lock_s
            start = 0.0 if self.cumulative_locks else lock_s
            said = words[:done_n + n] if self.cumulative_locks else words[done_n:done_n + n]
            step = (at_s - start) / max(1, len(said))
            await ws.send_json({"type": "transcript.partial", "text": " ".join(said) + suffix,
                                "words": [{"text": w, "start": start + i * step,
                                           "end": start + (i + 0.8) * step} for i, w in enumerate(said)],
                                "is_final": True, "speech_final": speech_final,
                                "start": start, "duration": at_s - start})
            turn["locked"].append({"text": " ".join(said) + suffix, "start": start, "duration": at_s - start,
                                   "words_end": start + (len(said) - 0.2) * step, "at": time.time()})
            done_n, lock_s = done_n + n, at_s

        def unlocked(upto: int) -> str:
            return " ".join(words[:upto] if self.cumulative_locks else words[done_n:upto])
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                turn["audio_bytes"] += len(msg.data)
                turn["frames"] += 1
                heard = turn["audio_bytes"]
                samples = struct.unpack(f"<{len(msg.data) // 2}h", msg.data[:len(msg.data) // 2 * 2])
                loud = max((abs(x) for x in samples), default=0) > 500
                quiet_ms = 0.0 if loud else quiet_ms + len(samples) * 1000 / rate
                if self.drop_after_bytes is not None and heard >= self.drop_after_bytes:
                    request.transport.abort()  # type: ignore[union-attr]
                    return ws
                if self.error_after_bytes is not None and heard >= self.error_after_bytes:
                    await ws.send_json({"type": "error", "message": "internal error"})
                    await ws.close()
                    return ws
                if self.malformed:
                    await ws.send_str("}{ not an event")
                    continue
                if self.stall:
                    continue
                if self.endpointing and pause_ms and not locked and shown and quiet_ms >= pause_ms:
                    locked = True  # the provider's endpointing: the speaker stopped
                    await self._pause("stt")
                    await lock(len(words) - done_n, heard / (2 * rate), ".", speech_final=True)
                    turn["locked_at"] = time.time()
                    continue
                if locked:
                    continue
                want = min(len(words) - 1, int(heard / (2 * rate) / 0.3))
                while sizes and want >= done_n + sizes[0]:
                    await self._pause()
                    await lock(sizes.pop(0), heard / (2 * rate))
                    shown = max(shown, want)
                # A partial every 0.5 s of audio heard, a word more where there is one.
                if want > shown or heard - told >= rate:
                    shown, told = max(shown, want), heard
                    await self._pause()
                    await ws.send_json({"type": "transcript.partial", "text": unlocked(shown),
                                        "words": [], "is_final": False, "speech_final": False,
                                        "start": 0.0, "duration": heard / (2 * rate)})
            elif msg.type == WSMsgType.TEXT:
                data = json.loads(msg.data)
                if data.get("type") != "audio.done":
                    continue
                turn["done"] = True
                turn["done_at"] = time.time()
                await self._pause("stt")
                duration = turn["audio_bytes"] / (2 * rate)
                rest = " ".join(words[done_n:])
                if not (self.text_in_done or self.rest_in_done or locked) and rest:
                    await lock(len(words) - done_n, duration, speech_final=True)
                done = text if self.text_in_done else rest if self.rest_in_done else ""
                await ws.send_json({"type": "transcript.done", "text": done, "words": [],
                                    "duration": duration})
                turn["answered_at"] = time.time()
                await ws.close()
        return ws

    async def _stt_recording(self, ws: web.WebSocketResponse, turn: dict[str, Any],
                             recording: tuple[bytes, list[tuple[str, float]]]) -> web.WebSocketResponse:
        """A turn of one long recording (the `recording` knob; 16 kHz): words as they are heard,
        locked every `lock_every_s`, the rest locked at `audio.done`."""
        pcm, timed = recording
        audio = bytearray()
        offset: int | None = None  # where the turn's first byte lies in the recording
        words: list[tuple[str, float]] = []  # the turn's words, ends in the turn's audio (s)
        done_n = shown = told = 0
        lock_s = 0.0

        async def lock(upto: int, at_s: float, speech_final: bool = False) -> None:
            nonlocal done_n, lock_s
            said = words[done_n:upto]
            await ws.send_json({"type": "transcript.partial", "text": " ".join(w for w, _ in said),
                                "words": [{"text": w, "start": max(lock_s, end - 0.3), "end": end}
                                          for w, end in said],
                                "is_final": True, "speech_final": speech_final,
                                "start": lock_s, "duration": at_s - lock_s})
            turn["locked"].append({"text": " ".join(w for w, _ in said), "start": lock_s,
                                   "duration": at_s - lock_s, "at": time.time()})
            done_n, lock_s = upto, at_s

        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                audio += msg.data
                turn["audio_bytes"] = len(audio)
                turn["frames"] += 1
                if offset is None:
                    offset = _place(bytes(audio), pcm)
                    if offset is None:
                        continue
                    words = [(w, end - offset / 32000) for w, end in timed if end > offset / 32000]
                heard_s = len(audio) / 32000
                upto = sum(1 for _, end in words if end <= heard_s)
                if heard_s - lock_s >= self.lock_every_s and upto > done_n:
                    await self._pause()
                    await lock(upto, heard_s)
                if upto > shown or len(audio) - told >= 16000:
                    shown, told = max(shown, upto), len(audio)
                    await self._pause()
                    await ws.send_json({"type": "transcript.partial", "is_final": False,
                                        "text": " ".join(w for w, _ in words[done_n:shown]),
                                        "words": [], "speech_final": False, "start": lock_s,
                                        "duration": heard_s - lock_s})
            elif msg.type == WSMsgType.TEXT:
                if json.loads(msg.data).get("type") != "audio.done":
                    continue
                turn["done"], turn["done_at"] = True, time.time()
                await self._pause("stt")
                heard_s = len(audio) / 32000
                upto = sum(1 for _, end in words if end <= heard_s + 0.1)
                if upto > done_n:
                    await lock(upto, heard_s, speech_final=True)
                await ws.send_json({"type": "transcript.done", "text": "", "words": [],
                                    "duration": heard_s})
                turn["answered_at"] = time.time()
                await ws.close()
        return ws

    # ---- translation ----
    async def _chat(self, request: web.Request) -> web.Response:
        refusal = self._auth(request, "chat")
        if refusal is not None:
            return refusal
        body = await request.json()
        record = {"headers": dict(request.headers), "body": body, "at": time.time(), "answered_at": None}
        self.chat_requests.append(record)
        await self._pause("chat")
        system = "\n".join(m["content"] for m in body["messages"] if m["role"] == "system")
        user = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
        shape = re.search(r'\{"translations": \{(.*?)\}\}', system)
        targets = re.findall(r'"([a-z]{2,3})": "\.\.\."', shape.group(1) if shape else "")
        text = _said(user)
        content = ("Sure! Here is the translation you asked for." if self.malformed else
                   json.dumps({"translations": {t: self.translate(text, t) for t in targets}},
                              ensure_ascii=False))
        record["answered_at"] = time.time()
        return web.json_response({
            "id": str(uuid.uuid4()), "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(system + user) // 4, "completion_tokens": len(content) // 4,
                      "total_tokens": (len(system + user) + len(content)) // 4}})

    # ---- speech synthesis ----
    async def _tts(self, request: web.Request) -> web.Response:
        refusal = self._auth(request, "tts")
        if refusal is not None:
            return refusal
        body = await request.json()
        self.tts_requests.append({"headers": dict(request.headers), "body": body})
        await self._pause("tts")
        fmt = body.get("output_format") or {}
        rate = int(fmt.get("sample_rate", 24000))
        if self.malformed:
            return web.Response(body=b"\x01", content_type="application/octet-stream")
        n = int(rate * 0.05 * max(1, len(str(body.get("text", "")))))
        pcm = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 220 * i / rate)))
                       for i in range(n))
        return web.Response(body=pcm, content_type="application/octet-stream")

    async def _voices(self, request: web.Request) -> web.Response:
        refusal = self._auth(request, "voices")
        if refusal is not None:
            return refusal
        await self._pause()
        return web.json_response({"voices": self.voices})


def _said(user: str) -> str:
    """What to translate, as the system prompt describes the user message: the "text" of its
    JSON data object; a user message that is not one is translated whole, as a model would."""
    try:
        data = json.loads(user)
    except ValueError:
        return user
    return data["text"] if isinstance(data, dict) and isinstance(data.get("text"), str) else user


def _place(audio: bytes, recording: bytes) -> int | None:
    """Where `audio`'s byte 0 lies in `recording`, found by its first 0.1 s holding sound (None
    until there is that much)."""
    first = next((i for i in range(0, len(audio) - 1, 2) if audio[i] or audio[i + 1]), None)
    if first is None or len(audio) < first + 3200:
        return None
    at = recording.find(audio[first:first + 3200])
    while at >= 0 and at % 2:
        at = recording.find(audio[first:first + 3200], at + 1)
    return at - first if at >= 0 else None
