# Spark's service image: `spark serve` on 0.0.0.0:4001 as a non-root user, its evidence, logs and state under the
# volume /data. Built by ops/compose.yaml (with Prometheus and Grafana beside it), or alone:
#   docker build -t spark . && docker run -p 4001:4001 -e ADMIN_TOKEN=... -v spark-data:/data spark
# Checked by hadolint in tests/ops (no Docker daemon is reachable where the tests run).
FROM python:3.11-slim-bookworm

# make: the Makefile's install target builds the virtualenv, as on a developer's machine.
# Debian versions are not pinned (DL3008): the slim base's security updates should come in with each build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 spark \
    && useradd --system --uid 10001 --gid spark --home-dir /app --shell /usr/sbin/nologin spark \
    && mkdir -p /app /data \
    && chown spark:spark /app /data

WORKDIR /app
USER 10001:10001

# The dependencies first (a layer that changes only with pyproject.toml), then the code.
COPY --chown=spark:spark pyproject.toml Makefile README.md ./
COPY --chown=spark:spark spark ./spark
COPY --chown=spark:spark plugins ./plugins
RUN make install PYTHON=python3

ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    SPARK_HOST=0.0.0.0 \
    SPARK_PORT=4001 \
    SPARK_EVIDENCE_DIR=/data/evidence \
    SPARK_LOG_DIR=/data/logs \
    SPARK_DATA_DIR=/data/data \
    SPARK_STATE_DIR=/data/state

VOLUME ["/data"]
EXPOSE 4001

# /health answers {"status":"ok"} while every actor lives (503 otherwise); python, since the slim base has no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:4001/health', timeout=4).status != 200)"]

# JSON log lines on stderr (`docker logs`); SIGTERM (docker stop) shuts down gracefully within 10 s.
STOPSIGNAL SIGTERM
CMD ["spark", "serve", "--log-format", "json"]
