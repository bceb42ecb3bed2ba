# syntax=docker/dockerfile:1
#
# tracegen: one image for the coordinator, the workers, the teacher stub and the admin commands.
# The entrypoint is `tracegen`; the command picks the role:
#
#   docker run IMAGE                                      # = serve --host 0.0.0.0 --port 8000 (CMD)
#   docker run IMAGE migrate                              # DATABASE_URL=postgresql://...
#   docker run IMAGE worker --concurrency 64              # TRACEGEN_COORDINATOR_URL, TRACEGEN_TOKEN
#   docker run IMAGE teacher-stub --host 0.0.0.0 --port 8001
#
# `serve` on 0.0.0.0 refuses to start without bearer tokens: give it TRACEGEN_ADMIN_TOKENS,
# TRACEGEN_WORKER_TOKENS (and TRACEGEN_VIEWER_TOKENS) as `name:secret` lists, plus DATABASE_URL.
# Teachers come from TRACEGEN_TEACHERS_FILE (mount one); without it only the built-in scripted teacher.
#
# docker-compose.yml runs the whole stack (Postgres, Redis, migration, coordinator, workers, stub).
# Only the service's runtime dependencies are installed: no `dev` extra, no `trainer` extra (torch and
# friends never enter this image). Both stages use the same base image, so the venv copied from the
# builder finds the same interpreter at the same path.

# ---------------------------------------------------------------------------------------------------
# builder: the runtime dependencies, then the tracegen wheel, into a self-contained venv at /opt/venv
# ---------------------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src

# Dependencies first, from pyproject.toml's [project].dependencies only (never the optional extras), so
# a code change does not reinstall them. Every dependency ships manylinux wheels: no compiler needed.
COPY pyproject.toml ./
RUN python -m venv /opt/venv \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && /opt/venv/bin/pip install --requirement /tmp/requirements.txt

# The wheel: hatchling packs gen_service and trainer, and force-includes the data folders
# (behaviours/, scenarios/, migrations/, alembic.ini) as gen_service/_data, where gen_service.paths
# finds them in an installed package. README.md is the project's `readme`, needed to build.
COPY README.md alembic.ini ./
COPY gen_service ./gen_service
COPY trainer ./trainer
COPY behaviours ./behaviours
COPY scenarios ./scenarios
COPY migrations ./migrations
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install /wheels/tracegen-*.whl \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/tracegen --version

# ---------------------------------------------------------------------------------------------------
# runtime: slim Python, the venv, an unprivileged user
# ---------------------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="tracegen" \
      org.opencontainers.image.description="tracegen coordinator, worker and teacher stub (the command picks)" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH

# A fixed numeric uid/gid, so orchestrators that check runAsNonRoot can verify it without /etc/passwd.
# /var/lib/tracegen is the working directory: `tracegen export` writes ./tracegen-out/ there.
RUN groupadd --system --gid 10001 tracegen \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/tracegen --create-home \
        --shell /usr/sbin/nologin tracegen

COPY --from=builder /opt/venv /opt/venv

WORKDIR /var/lib/tracegen
USER 10001:10001

# 8000: coordinator (`serve`); 8001: teacher stub (`teacher-stub`). Workers listen on nothing.
EXPOSE 8000 8001

# The default health check fits the default command (the coordinator on 8000). The slim image has no
# curl, so Python's urllib asks /healthz; any error or non-2xx status exits non-zero.
# docker-compose.yml gives every service its own check (the stub on 8001, the worker asks the
# coordinator it works for) and turns it off for the one-shot migration.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["tracegen"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
