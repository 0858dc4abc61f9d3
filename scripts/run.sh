#!/usr/bin/env bash
# `make run`: the whole service on the embedded default, the LiveKit server included (set-up builds
# bin/livekit-server once): unless LIVEKIT_URL points at another one or LIVEKIT=off, it is started
# on loopback with keys generated once into var/, and the app uses it: voice sessions go through
# LiveKit and the speech agent. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077  # var/ (database, keys, logs, the LiveKit config with its webhook) is the service's alone
mkdir -p var && chmod 700 var
lk_pid=""
if [ -z "${LIVEKIT_URL:-}" ] && [ -x bin/livekit-server ] && [ "${LIVEKIT:-auto}" != off ]; then
  [ -s var/livekit.key ] || (.venv/bin/python -c "import secrets; print(secrets.token_urlsafe(36))" > var/livekit.key)
  lk_port="${LIVEKIT_PORT:-7880}"
  app_port="${PORT:-5000}"
  # The committed loopback config, with this run's port and a webhook to the app.
  sed "s/^port: 7880$/port: ${lk_port}/" livekit.yaml > var/livekit.run.yaml
  printf 'webhook:\n  api_key: devkey\n  urls: ["http://127.0.0.1:%s/livekit/webhook"]\n' "$app_port" >> var/livekit.run.yaml
  export LIVEKIT_KEYS="devkey: $(cat var/livekit.key)"
  bin/livekit-server --config var/livekit.run.yaml > var/livekit.log 2>&1 &
  lk_pid=$!
  trap 'kill "$lk_pid" 2>/dev/null || true' EXIT INT TERM
  export LIVEKIT_URL="ws://127.0.0.1:${lk_port}" LIVEKIT_API_KEY=devkey LIVEKIT_API_SECRET="$(cat var/livekit.key)"
  unset LIVEKIT_KEYS
  echo "run: LiveKit server on ${LIVEKIT_URL} (log: var/livekit.log)"
fi
.venv/bin/python -m app
