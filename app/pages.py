"""The page served at /: sign in, create or join a room, type, read everyone in your language."""
from __future__ import annotations

from flask import Blueprint, Response, send_from_directory

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> Response:
    return send_from_directory(bp.root_path + "/static", "index.html", max_age=0)
