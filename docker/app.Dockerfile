# syntax=docker/dockerfile:1
# One image definition, three targets (the gateway, the consumer and the review page share every dependency):
#   docker build -f docker/app.Dockerfile --target gateway  -t taxifraud-gateway:0.1.0 .
#   docker build -f docker/app.Dockerfile --target consumer -t taxifraud-consumer:0.1.0 .
#   docker build -f docker/app.Dockerfile --target review   -t taxifraud-review:0.1.0 .
# Runtime dependencies only: pyproject's [project].dependencies, no extras (no torch, no embedded broker/Triton).
# Each target copies the shared core (taxifraud/) and its own service package, nothing else, and starts
# that service's own entrypoint (`python -m gateway|consumer|review`); the operations CLI never runs in
# production. tests/ops/test_dockerfiles.py imports each entrypoint from exactly what its target copies.
# The model repository is mounted at /models at run time (MODEL_REPOSITORY=/models).

FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies first (pinned in pyproject.toml), so editing code does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

FROM python:3.11.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MODEL_REPOSITORY=/models
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY taxifraud ./taxifraud
USER 10001:10001

FROM runtime AS gateway
ENV GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('GATEWAY_PORT', '8000'), timeout=3)"]
COPY gateway ./gateway
ENTRYPOINT ["python", "-m", "gateway"]

FROM runtime AS consumer
ENV CONSUMER_METRICS_HOST=0.0.0.0 \
    CONSUMER_METRICS_PORT=9101
EXPOSE 9101
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/metrics' % os.environ.get('CONSUMER_METRICS_PORT', '9101'), timeout=3)"]
STOPSIGNAL SIGTERM
COPY consumer ./consumer
ENTRYPOINT ["python", "-m", "consumer"]

FROM runtime AS review
ENV REVIEW_HOST=0.0.0.0 \
    REVIEW_PORT=8020
EXPOSE 8020
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('REVIEW_PORT', '8020'), timeout=3)"]
COPY review ./review
ENTRYPOINT ["python", "-m", "review"]
