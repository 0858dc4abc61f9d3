"""The speech process: sessions of PCM audio in, interim and final transcripts out; synthesis;
and, with LiveKit configured, the media agent.

On the socket link (embedded), the app opens one connection and multiplexes its sessions over it:
`start` (session id, language, sample rate), audio frames, `stop`. Each session gets a thread that
resamples (soxr) to 16 kHz and feeds a streaming STT; events go back on the same connection as they
happen (agent.connection). On the Redis link (distributed), agent.bus_server takes the same
messages from Redis streams, shared with any other speech process.
`python -m agent.speech_server --socket PATH` (socket link) or `python -m agent.speech_server`
(SPEECH_LINK=redis, the default with REDIS_URL) runs it.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
from typing import Any

from agent.connection import Connection, Meter, Voices
from core.providers import stt_registry
from core.settings import Settings
from engines.children import die_with_parent
from engines.stt.registry import STTRegistry

logger = logging.getLogger(__name__)


def serve(path: str, stt: STTRegistry, voices: Voices | None = None,
          meter: Meter | None = None, media: Any = None) -> None:
    """Listen on a Unix socket at `path` (owner-only) and serve connections until killed."""
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        server.bind(path)
    finally:
        os.umask(old)
    server.listen(8)
    logger.info("speech server ready", extra={"socket": path, "stt": stt.default})
    while True:
        conn, _ = server.accept()
        threading.Thread(target=Connection(conn, stt, voices, meter, media).serve, name="speech-conn",
                         daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--socket", help="Unix socket path to listen on (the socket link)")
    args = parser.parse_args()
    settings = Settings.from_env()  # reads .env too, when run on its own (Procfile `agent`)
    if settings.speech.link == "socket" and not args.socket:
        parser.error("--socket is needed with the socket link (SPEECH_LINK=redis for the other)")
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per bridge post otherwise
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    die_with_parent()  # started by the embedded web process: it ends with it (engines.children)
    voices = Voices(settings)
    for name in voices.registry.chain():  # load piper before the first request
        voices.registry.provider(name)
    stt = stt_registry(settings)
    stt.provider("local")  # load Whisper before the first speaker (every chain ends with it)
    meter = Meter(settings.database_url)

    state: Any = None
    if livekit_configured(settings):
        from agent import livekit_agent
        from agent.voice_out import LagPolicy
        state = livekit_agent.AgentState(stt, meter=meter, voices=voices, policy=LagPolicy(
            settings.agent.voice_speedup_s, settings.agent.voice_skip_s,
            settings.agent.voice_max_speed))
    if settings.speech.link == "redis":
        from agent.bus_server import BusServer
        server = BusServer(settings.redis_url, settings.speech_link_key, stt, voices, meter, state)

        def going(*_: Any) -> None:
            server.gone()
            os._exit(0)
        signal.signal(signal.SIGTERM, going)
        link = server.run
    else:
        def link() -> None:
            serve(args.socket, stt, voices, meter, state)

    if state is None:
        link()
        return
    # With LiveKit, this process is also the media agent: the link on a thread, the
    # livekit-agents worker on the main thread's event loop, one Whisper model for both; the
    # link's `say` reaches the agent's rooms.
    threading.Thread(target=link, name="speech-link", daemon=True).start()
    livekit_agent.run(state, settings)


def livekit_configured(settings: Settings) -> bool:
    return settings.livekit.config() is not None and not settings.agent.disabled


if __name__ == "__main__":
    main()
