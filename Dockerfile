# One image for every Kiln process: the web app (default) or a worker (`worker` command).
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir uv \
    && useradd --create-home --uid 10001 kiln

WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY domain ./domain
COPY actors ./actors
COPY web ./web
COPY bin ./bin
RUN chown -R kiln:kiln /app
USER kiln
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 KILN_LOG_FORMAT=json \
    KILN_SANDBOX_ROOT=/home/kiln/sandboxes
EXPOSE 8000
CMD ["uvicorn", "web.app:app", "--host", "0.0.0.0", "--port", "8000"]
