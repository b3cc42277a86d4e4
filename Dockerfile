# mockbatch as a container:
#   docker build -t mockbatch .
#   docker run -p 8000:8000 -v mockbatch-data:/data mockbatch
# Configured by the same MOCKBATCH_* variables as `mockbatch serve` (see `mockbatch serve --help`).
# The base must provide `python3` with the venv module: the official image (default) or Debian's.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mockbatch ./mockbatch
COPY scenarios ./scenarios
# Install the project itself (a wheel, not editable) into a venv that the runtime stage copies whole;
# pip is not needed at run time. The bundled scenarios get a fixed path whatever the Python version.
RUN python3 -m venv /opt/mockbatch \
 && /opt/mockbatch/bin/pip install --no-compile . \
 && /opt/mockbatch/bin/pip uninstall -y -q pip setuptools \
 && /opt/mockbatch/bin/python -m compileall -q /opt/mockbatch/lib \
 && bundled="$(/opt/mockbatch/bin/python -I -c 'import mockbatch.scenarios as s; print(s.bundled_dir())')" \
 && ls "$bundled"/*.toml >/dev/null \
 && ln -s "$bundled" /opt/mockbatch/scenarios

FROM ${BASE_IMAGE}
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin mockbatch \
 && mkdir -p /data \
 && chown mockbatch:mockbatch /data
COPY --from=build /opt/mockbatch /opt/mockbatch
ENV PATH=/opt/mockbatch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MOCKBATCH_HOST=0.0.0.0 \
    MOCKBATCH_PORT=8000 \
    MOCKBATCH_DB=/data/mockbatch.sqlite3 \
    MOCKBATCH_SCENARIOS_DIR=/opt/mockbatch/scenarios
USER mockbatch
WORKDIR /data
VOLUME /data
EXPOSE 8000
# No curl in the image: the health check is a line of Python against the control plane.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MOCKBATCH_PORT', '8000') + '/_mockbatch/health', timeout=2)"]
CMD ["mockbatch", "serve"]
