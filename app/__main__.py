"""`python -m app`: serve the app with eventlet on HOST:PORT (127.0.0.1:5000 by default)."""
import warnings

warnings.filterwarnings("ignore", message="\nEventlet is deprecated")  # the design card fixes eventlet
import eventlet  # noqa: E402

eventlet.monkey_patch()

import sys  # noqa: E402

from app.extensions import socketio  # noqa: E402
from app.factory import NotMigrated, create_app  # noqa: E402
from core.settings import Settings  # noqa: E402


def main() -> None:
    settings = Settings.from_env()
    try:
        app = create_app(settings, async_mode="eventlet")
    except NotMigrated as exc:
        sys.stderr.write(f"live-translator: {exc}\n")
        raise SystemExit(2) from None
    sys.stderr.write(f"live-translator: serving on http://{settings.web.host}:{settings.web.port}/\n")
    socketio.run(app, host=settings.web.host, port=settings.web.port, log_output=False)


if __name__ == "__main__":
    main()
