"""Signed, expiring guest tokens (itsdangerous) carrying the user id."""
from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "live-translator-session"


class TokenError(Exception):
    """A token that is missing, forged or expired; `code` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Tokens:
    def __init__(self, secret: str, ttl_s: int) -> None:
        self._s = URLSafeTimedSerializer(secret, salt=SALT)
        self.ttl_s = ttl_s

    def issue(self, user_id: str) -> str:
        return self._s.dumps({"uid": user_id})

    def verify(self, token: object) -> str:
        """The user id in a valid token; raises TokenError otherwise."""
        if not isinstance(token, str) or not token or len(token) > 512:
            raise TokenError("unauthorized", "a session token is required")
        try:
            data = self._s.loads(token, max_age=self.ttl_s)
        except SignatureExpired:
            raise TokenError("token_expired", "the session token has expired; sign in again") from None
        except BadSignature:
            raise TokenError("unauthorized", "the session token is not valid") from None
        uid = data.get("uid") if isinstance(data, dict) else None
        if not isinstance(uid, str):
            raise TokenError("unauthorized", "the session token is not valid")
        return uid
