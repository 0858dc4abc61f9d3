"""Security headers on every HTTP response: what the page may load and connect to (its own
origin, and the LiveKit server the operator configured), never framed by another site (the page
joins `/?room=` at once and can start the microphone: framing it would be clickjacking), no
content-type sniffing, no referrer."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, Response, request

# Hosts of LiveKit Cloud: a project's URL sends the client on to regional hosts under these.
LIVEKIT_CLOUD = (".livekit.cloud", ".livekit.run")
HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
FIXED = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # The microphone for this origin only; nothing here uses the camera or the location.
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
}


def livekit_sources(url: str) -> list[str]:
    """What the page connects to for voice: the LiveKit URL's origin over WebSocket and over
    HTTP (livekit-client probes it with fetch), and LiveKit Cloud's regional hosts."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.netloc:
        return []
    secure = parts.scheme in ("wss", "https")
    host = parts.netloc.rsplit("@", 1)[-1]
    sources = [f"{'wss' if secure else 'ws'}://{host}", f"{'https' if secure else 'http'}://{host}"]
    cloud = next((d for d in LIVEKIT_CLOUD if (parts.hostname or "").endswith(d)), None)
    if cloud:
        sources += [f"wss://*{cloud}", f"https://*{cloud}"]
    return sources


def policy(connect: list[str]) -> str:
    """The Content-Security-Policy: scripts, styles, workers, media and images from this origin
    only (TTS audio is served here; LiveKit's audio arrives as MediaStreams, which CSP does not
    govern), connections to it and to `connect`, no plugins, no <base>, forms only here, no
    framing."""
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "media-src": "'self'",
        "worker-src": "'self'",
        "connect-src": " ".join(["'self'", *connect]),
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def install(app: Flask, livekit_url: str | None) -> None:
    """Add the headers to every response the app gives (a route may set its own first)."""
    extra = livekit_sources(livekit_url) if livekit_url else []

    @app.after_request
    def headers(response: Response) -> Response:
        for name, value in FIXED.items():
            response.headers.setdefault(name, value)
        # 'self' covers ws(s) to this origin in current browsers; older Safari needs it said.
        host = request.host if HOST.match(request.host or "") else ""
        own = [f"ws://{host}", f"wss://{host}"] if host else []
        response.headers.setdefault("Content-Security-Policy", policy(own + extra))
        return response
