"""The shared core of app/, workers/ and agent/: settings, database session and models, room and
channel naming, the metrics store, the expiring-key store, LiveKit settings and the bridge
signature. It imports none of those three (only engines/ and libraries)."""
