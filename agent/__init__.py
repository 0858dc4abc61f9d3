"""The speech process: all speech recognition lives here, never in the web process.

Today it serves the Socket.IO audio path (audio handed over by the app through a local socket);
the LiveKit agent worker joins it later.
"""
