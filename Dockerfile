# syntax=docker/dockerfile:1
# devops-bot production image.
#
#   docker build -t devops-bot:0.1.0 .
#   docker build --build-arg EXTRAS=charts -t devops-bot:0.1.0-charts .   # with PNG charts
#   docker run --rm -p 3000:3000 --env-file bot.env devops-bot:0.1.0          # HTTP mode
#   docker run --rm --env-file bot.env devops-bot:0.1.0 serve --socket        # Socket Mode
#
# The install is `pip install .`: the same pins as pyproject.toml, the same command the
# tests' install (`pip install -e '.[dev]'`) resolves, without the test extras. Build tools
# (pip's wheel building, setuptools) stay in the build stage; the final stage gets only the
# virtual environment and runs as an unprivileged user.

ARG PYTHON_VERSION=3.11.11
# Optional extras, comma-separated: "charts" (matplotlib PNG charts of metrics). Empty: the
# lean image, which gives metric numbers without pictures.
ARG EXTRAS=""

# ---- build: a virtual environment with the package and its pinned dependencies ------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG EXTRAS

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/devops-bot
ENV PATH=/opt/devops-bot/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY workflow ./workflow
COPY bot ./bot
# A regular (non-editable) install: the venv holds everything, /src is not needed afterwards.
# The versions are pinned in pyproject.toml, which this installs (DL3013 cannot see that).
# hadolint ignore=DL3013
RUN pip install --no-compile ".${EXTRAS:+[${EXTRAS}]}" \
    && python -m compileall -q /opt/devops-bot/lib

# ---- runtime: the venv, a non-root user, nothing else ------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="devops-bot" \
      org.opencontainers.image.description="ChatOps approval bot: LangGraph behind Slack" \
      org.opencontainers.image.licenses="Apache-2.0"

# pip and setuptools are build tools: the runtime needs neither.
RUN python -m pip uninstall -y -q pip setuptools wheel \
    && groupadd --system --gid 10001 devops-bot \
    && useradd --system --uid 10001 --gid devops-bot --home-dir /var/lib/devops-bot \
       --create-home --shell /usr/sbin/nologin devops-bot

COPY --from=build /opt/devops-bot /opt/devops-bot

ENV PATH=/opt/devops-bot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DEVOPS_BOT_DATA_DIR=/var/lib/devops-bot \
    LOG_FORMAT=json \
    LOG_LEVEL=INFO \
    PORT=3000

USER 10001:10001
WORKDIR /var/lib/devops-bot
EXPOSE 3000

# /healthz answers 200 while the replica takes work and 503 while it drains (SIGTERM) or
# cannot reach the state store. In Kubernetes the readiness and liveness probes in
# deploy/base/deployment.yaml are used instead (they ignore HEALTHCHECK).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os,sys,urllib.request as u; u.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('PORT', '3000'), timeout=2); sys.exit(0)"]

ENTRYPOINT ["devops-bot"]
CMD ["serve", "--http"]
