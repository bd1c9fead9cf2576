"""A BOAMP portal on 127.0.0.1 inside the process, speaking the Explore v2.1 API from bundled
records: what `watcher demo` polls instead of the internet."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

RECORDS_PATH = "/api/explore/v2.1/catalog/datasets/boamp/records"


class DemoPortal:
    """`with DemoPortal(records) as portal: portal.url`; `portal.records` may be replaced."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != RECORDS_PATH:
                    self.send_error(404)
                    return
                query = parse_qs(parts.query)
                offset = int((query.get("offset") or ["0"])[0] or 0)
                limit = int((query.get("limit") or ["10"])[0] or 10)
                page = outer.records[offset : offset + limit]
                body = json.dumps({"total_count": len(outer.records), "results": page}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the demo's own lines say what happens."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, the `base_url` of the demo's source."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> DemoPortal:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
