# stream-mlc's image: the package and its dependencies installed at build time, run as a
# non-root user. docker-compose.yml builds it once for the topics step and every worker.
#
#   docker build -t stream-mlc .
#   docker run --rm -p 127.0.0.1:9464:9464 -e STREAM_MLC_BROKER=kafka1:9092 stream-mlc worker
#
# The base image is an argument so that a builder without access to Docker Hub can use a
# mirror of it (any Debian-based image with Python 3.11 and its venv module).
ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: wheels of the project and of every dependency (no compiler in the final image)
FROM ${PYTHON_IMAGE} AS builder
WORKDIR /src
# pyproject first: the dependency wheels are a layer of their own, rebuilt only when they change.
COPY pyproject.toml README.md ./
COPY topics ./topics
COPY stream_mlc ./stream_mlc
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/build/bin/pip wheel --no-cache-dir --wheel-dir /wheels .

# ---- runtime: the wheels installed into a virtual environment, nothing else
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="stream-mlc" \
      org.opencontainers.image.description="Streaming online multi-label classification on Kafka" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python3 -m venv /opt/stream-mlc \
 && /opt/stream-mlc/bin/pip install --no-cache-dir --no-index --find-links /wheels stream-mlc \
 && useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin stream-mlc
# Inside a container its network namespace is the boundary: serve the live page and /metrics
# on every interface of it, and publish the port where it should be seen (-p
# 127.0.0.1:9464:9464). Outside containers the default stays 127.0.0.1.
ENV PATH=/opt/stream-mlc/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STREAM_MLC_METRICS_HOST=0.0.0.0 \
    STREAM_MLC_METRICS_PORT=9464
USER stream-mlc
# The worker's local state (Faust's data directory) goes to the user's home.
WORKDIR /home/stream-mlc
EXPOSE 9464
# The worker's own server answers /metrics once it is up; a command without one (topics
# create) has no health to report, and compose disables the check for it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/metrics' % os.environ.get('STREAM_MLC_METRICS_PORT', '9464'), timeout=4)"]
ENTRYPOINT ["stream-mlc"]
CMD ["worker"]
