# One image for every Kiln process, chosen by command:
#   web (default):  uvicorn web.app:app --host 0.0.0.0 --port 8000
#   worker:         dramatiq actors --processes N --threads M
#   operator tools: python -m bin.support.replay --all-failed --dry-run
# Runs as the unprivileged user `kiln`. Sandbox commands run in bubblewrap where the container
# lets it create namespaces (see README "Deployment"); otherwise they fall back to process
# sessions and the worker logs that once.
FROM python:3.11-slim-bookworm

# bubblewrap isolates sandbox commands; util-linux's prlimit sets their resource limits.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap slirp4netns nftables socat ca-certificates util-linux \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir uv \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin kiln

WORKDIR /app
# Dependencies first (the locked set, no dev tools) so code changes reuse this layer.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project \
    && rm -rf /root/.cache
COPY domain ./domain
COPY actors ./actors
COPY web ./web
COPY bin ./bin
RUN mkdir -p /home/kiln/sandboxes && chown kiln:kiln /home/kiln/sandboxes
# The code stays root-owned and read-only to the service user; only its sandboxes are writable.
USER kiln
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KILN_LOG_FORMAT=json \
    KILN_SANDBOX_ROOT=/home/kiln/sandboxes
EXPOSE 8000
CMD ["uvicorn", "web.app:app", "--host", "0.0.0.0", "--port", "8000"]
