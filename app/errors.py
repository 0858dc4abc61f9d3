"""The one JSON error body of every REST answer, `{"error": {code, message}}`, and the app-wide
handlers: BadInput from any blueprint, 404, 405 and 413."""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request

from app.validation import BadInput


def error_response(code: str, message: str, status: int) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


def install(app: Flask, count: Any) -> None:
    """Register the handlers; `count(label)` counts each refused request in the metrics."""

    @app.errorhandler(BadInput)
    def bad_input(exc: BadInput) -> tuple[Response, int]:
        count(f"bad_input:{'tts' if request.blueprint == 'tts' else request.endpoint}")
        resp, status = jsonify({"error": exc.as_dict()}), exc.status
        retry = getattr(exc, "retry_after", None)
        if retry:
            resp.headers["Retry-After"] = str(retry)
        return resp, status

    @app.errorhandler(413)
    def too_large(_: Any) -> tuple[Response, int]:
        return error_response("too_large", "the body is over 64 KiB", 413)

    @app.errorhandler(404)
    def not_found(_: Any) -> tuple[Response, int]:
        return error_response("not_found", "no such resource", 404)

    @app.errorhandler(405)
    def bad_method(_: Any) -> tuple[Response, int]:
        return error_response("method_not_allowed", "method not allowed", 405)
