# One image for web, worker, flower and the speech agent (see docker-compose.yml). Untested here:
# these machines have no Docker engine.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      python3 python3-venv python3-pip apertium apertium-apy apertium-eng-spa apertium-fr-es \
      apertium-es-pt apertium-eng-cat apertium-spa-cat apertium-fra-cat apertium-spa-ita \
      apertium-cat-ita apertium-es-ro apertium-en-gl apertium-es-gl apertium-pt-gl apertium-eu-en \
      apertium-eu-es apertium-eo-en apertium-eo-es apertium-eo-fr apertium-eo-ca apertium-hbs-eng \
      apertium-hbs-mkd apertium-mkd-eng apertium-isl-eng apertium-oci-fra apertium-oc-es \
      apertium-oc-ca apertium-br-fr apertium-por-cat espeak-ng sox nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /srv
COPY pyproject.toml ./
COPY core core
COPY app app
COPY workers workers
COPY engines engines
COPY agent agent
COPY migrations migrations
COPY web web
COPY alembic.ini celeryconfig.py ./
RUN python3 -m venv .venv && .venv/bin/pip install --no-cache-dir -e ".[speech]" \
    && (cd web && npm ci --no-audit --no-fund && npm run build)
ENV HOST=0.0.0.0 PORT=5000
