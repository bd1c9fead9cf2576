FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY watcher ./watcher
COPY migrations ./migrations
RUN pip install --no-cache-dir -e .
COPY sources.yaml ./
ENV WATCHER_DATA_DIR=/data
EXPOSE 8080
CMD ["sh", "-c", "watcher db upgrade && watcher serve --host 0.0.0.0 --port 8080"]
