"""The Socket.IO events (default namespace), one module per area, each registering its handlers
on app.clients' registry and never importing another: rooms (connect, join, leave), text
(typed transcripts, ping, client errors), audio (the Socket.IO audio path) and voice (LiveKit
voice sessions). Their event names and payloads are core.wire's contract (the README's)."""
