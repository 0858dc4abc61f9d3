"""The bridge signature: the speech agent signs its posts to the app, the app checks them."""
from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `"<timestamp>." + body`."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


AUDIO_SALT = "live-translator-tts-audio"
AUDIO_TTL_S = 3600


def audio_ticket(secret: str, key: str, user_id: str) -> str:
    """A ticket for one synthesized file, issued to the listener it was made for (the URL in
    their `tts-audio`): the file is served to whoever holds it, for AUDIO_TTL_S."""
    from itsdangerous import URLSafeTimedSerializer
    return URLSafeTimedSerializer(secret, salt=AUDIO_SALT).dumps([key, user_id])


def audio_ticket_valid(secret: str, key: str, ticket: str) -> bool:
    from itsdangerous import BadData, URLSafeTimedSerializer
    try:
        got = URLSafeTimedSerializer(secret, salt=AUDIO_SALT).loads(ticket, max_age=AUDIO_TTL_S)
    except BadData:
        return False
    return isinstance(got, list) and len(got) == 2 and got[0] == key
