"""What every in-process stand-in of a Google REST API shares: JSON in, JSON out, quietly.

The client libraries' REST transports take `url_scheme="http"` and a host of our choosing (their own test seam);
a stand-in subclasses this handler and answers the paths the library calls.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


class JsonApiHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass  # the test's own assertions say what happened; a line per request would drown them

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        body: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
        return body
