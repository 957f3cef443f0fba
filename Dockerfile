# syntax=docker/dockerfile:1
# acehub: the API (`acehub serve`, the default command), the sync worker (`acehub worker`) and
# the migrations (`acehub migrate`) from one image. See docs/deployment.md.
#
#   docker build -t acehub .
#   docker run --rm -e APP_ENV=production -e SECRET_KEY=... -e DATABASE_URL=... acehub acehub migrate
#
# No secret is baked in: SECRET_KEY, DATABASE_URL, REDIS_URL and METRICS_TOKEN come from the
# environment at run time (.env files are not copied into the image).

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: the locked dependencies and the app, in /app/.venv -----------------------------------
FROM ${PYTHON_IMAGE} AS build

# The uv version the Makefile installs.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

WORKDIR /app/backend

# The dependencies first (from the lock file alone), so a code change reuses this layer.
COPY backend/pyproject.toml backend/uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-project

# Then the app itself. It stays installed in place: `acehub migrate` reads
# backend/alembic.ini next to the package, and the settings place DATA_DIR beside it.
COPY backend/alembic.ini ./
COPY backend/app ./app
COPY backend/ace_sandbox ./ace_sandbox
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev

# --- runtime: python, the venv and the code; no uv, no build tools --------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    DATA_DIR=/app/data

RUN groupadd --system --gid 10001 acehub \
    && useradd --system --uid 10001 --gid acehub --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin acehub \
    && mkdir -p /app/data \
    && chown acehub:acehub /app/data

# Owned by root, so the app cannot change its own code; only /app/data (and /tmp) are writable.
COPY --from=build /app/.venv /app/.venv
COPY --from=build /app/backend /app/backend

WORKDIR /app/backend
USER 10001:10001

EXPOSE 8000

# Liveness of `acehub serve` on its default port (slim images have no curl). Compose switches
# it off for the worker and the migrations, which serve no HTTP.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4).status == 200 else 1)"]

CMD ["acehub", "serve", "--host", "0.0.0.0", "--port", "8000"]
