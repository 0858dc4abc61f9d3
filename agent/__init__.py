"""The speech process: all speech recognition lives here, never in the web process.

It serves the Socket.IO audio path (audio handed over by a web process through a local socket,
or over the signed Redis speech link when distributed) and runs the LiveKit agent worker that
recognises every microphone of a voice room and speaks translations on `tts-<lang>` tracks.
"""
