# detention-watcher: the scheduler and the web site in one process (`watcher serve`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WATCHER_DATA_DIR=/data \
    WATCHER_SOURCES=/app/sources.yaml

WORKDIR /app
COPY pyproject.toml README.md ./
COPY requirements ./requirements
COPY watcher ./watcher
COPY migrations ./migrations
# Editable install with the locked versions (requirements/prod.txt): the migrations stay beside the
# package, where `watcher db upgrade` finds them.
RUN pip install --no-cache-dir -c requirements/prod.txt -e . \
    && useradd --system --home-dir /data --shell /usr/sbin/nologin watcher \
    && mkdir -p /data && chown watcher:watcher /data
COPY sources.yaml companies.yaml ./

USER watcher
VOLUME ["/data"]
EXPOSE 8080
# Migrate, then serve. `exec` makes `watcher` PID 1, so the SIGTERM of `docker stop` reaches it and
# it exits 0 within 15 seconds. (Instances started together on an empty PostgreSQL database race
# to create the schema; the loser exits and its restart policy starts it again on the migrated one.)
CMD ["sh", "-c", "watcher db upgrade && exec watcher serve --host 0.0.0.0 --port 8080"]
