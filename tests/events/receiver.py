"""A local webhook receiver (real HTTP): checks signatures, records events, fails on demand."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Records every POST; ``fail_ids`` answer 500, ``fail_all`` answers 503 to everything."""

    def __init__(self, secret: str, *, max_age_seconds: int = 300) -> None:
        self.secret = secret
        self.max_age_seconds = max_age_seconds
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.fail_ids: set[int] = set()
        self.fail_all = False
        self.lock = threading.Lock()
        self.url = ""

    def verify(self, timestamp: str, body: bytes, signature: str) -> bool:
        """What a receiver does: recompute the HMAC over ``timestamp.body``, refuse old ones."""
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        fresh = abs(time.time() - int(timestamp)) <= self.max_age_seconds
        return fresh and hmac.compare_digest(expected, signature)

    def ids(self) -> list[int]:
        with self.lock:
            return [int(r["id"]) for r in self.received]


@contextmanager
def running_receiver(secret: str) -> Iterator[Receiver]:
    state = Receiver(secret)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            timestamp = self.headers.get("X-Memberkit-Timestamp", "0")
            signature = self.headers.get("X-Memberkit-Signature", "")
            status = 200
            if not state.verify(timestamp, body, signature):
                with state.lock:
                    state.bad_signatures += 1
                status = 401
            else:
                document = json.loads(body)
                if state.fail_all or int(document["id"]) in state.fail_ids:
                    status = 503 if state.fail_all else 500
                else:
                    with state.lock:
                        state.received.append(document)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/memberkit"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
