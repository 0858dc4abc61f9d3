#!/usr/bin/env bash
# Install what Live Translator needs on a Debian machine, idempotently and quickly on a second run:
# Debian packages (Apertium + pairs, Redis, PostgreSQL, espeak-ng, sox), a virtualenv with the
# project, and the npm packages the page uses. Pass "test" to add the test dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
want="${1:-run}"

APT_PACKAGES=(apertium apertium-apy apertium-eng-spa apertium-fr-es apertium-es-pt apertium-eng-cat
  apertium-spa-cat apertium-fra-cat redis-server postgresql espeak-ng sox python3-venv
  pocketsphinx-testdata)
# Further Apertium pairs that reach English, Spanish or French (directly or through pivots; see
# engines/languages.py for what each is worth): Italian, Romanian, Galician, Basque, Esperanto,
# Croatian, Macedonian, Icelandic, Occitan, Breton; and Catalan-Portuguese.
APT_PACKAGES+=(apertium-spa-ita apertium-cat-ita apertium-es-ro apertium-en-gl apertium-es-gl
  apertium-pt-gl apertium-eu-en apertium-eu-es apertium-eo-en apertium-eo-es apertium-eo-fr
  apertium-eo-ca apertium-hbs-eng apertium-hbs-mkd apertium-mkd-eng apertium-isl-eng apertium-oci-fra
  apertium-oc-es apertium-oc-ca apertium-br-fr apertium-por-cat)
# The browser tests drive Debian's Chromium (headless, fake microphone from a WAV).
[ "$want" = test ] && APT_PACKAGES+=(chromium)
# Real recorded speech for the recognition tests and bench/stt.py (see bench/speech_corpus.py).
# Not asterisk-core-sounds-es/-fr (transcripts only, copied in bench/data/): they conflict with
# the held-out voices asterisk-prompt-es-co/-fr-armelle, which replace them when installed.
[ "$want" = test ] && APT_PACKAGES+=(alsa-utils codec2-examples asterisk-core-sounds-en
  asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav asterisk-core-sounds-fr-wav
  asterisk-core-sounds-it asterisk-core-sounds-it-wav asterisk-prompt-es-co asterisk-prompt-fr-armelle
  asterisk-prompt-it-menardi-wav)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
extras="$([ "$want" = test ] && echo "[test,speech]" || echo "[speech]")"
stamp=".venv/.installed${extras}"
digest="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  echo "setup: installing Python packages${extras:+ (with test extras)}"
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -e ".${extras}"
  echo "$digest" > "$stamp"
fi

# The LiveKit server (media plane), built once from the Go module proxy into a project-local bin/:
# the tests need it, and `make run` starts it by default (LIVEKIT=off: neither built nor started).
LIVEKIT_VERSION=v1.13.5
if [ "$want" = test ] || [ "${LIVEKIT:-on}" != off ]; then
  if ! bin/livekit-server --version 2>/dev/null | grep -q "${LIVEKIT_VERSION#v}"; then
    echo "setup: building livekit-server ${LIVEKIT_VERSION} (go install, a few minutes once)"
    mkdir -p bin
    GOBIN="$PWD/bin" CGO_ENABLED=0 go install "github.com/livekit/livekit-server/cmd/server@${LIVEKIT_VERSION}"
    mv -f bin/server bin/livekit-server
  fi
fi

web_digest="$(cat web/package.json web/package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ "$(cat web/node_modules/.installed 2>/dev/null)" != "$web_digest" ]; then
  echo "setup: installing npm packages"
  (cd web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$web_digest" > web/node_modules/.installed
fi
# The browser client: web/src bundled with livekit-client and socket.io-client (esbuild).
bundle_digest="$( (cat web/node_modules/.installed; cat web/src/*.js) | sha256sum | cut -d' ' -f1)"
if [ "$(cat app/static/vendor/.bundle 2>/dev/null)" != "$bundle_digest" ] || [ ! -s app/static/vendor/app.bundle.js ]; then
  echo "setup: bundling the browser client"
  mkdir -p app/static/vendor
  if ! out="$(cd web && npm run --silent build 2>&1)"; then echo "$out"; exit 1; fi
  echo "$bundle_digest" > app/static/vendor/.bundle
fi
