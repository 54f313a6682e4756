"""Local stand-ins for the services alerts go to: an HTTP server that records every request (and
can fail for a while), and an SMTP mailbox for aiosmtpd."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """An HTTP server recording every request; answers `fail` 503s first, then `reply`, each
    after `delay_s`. With `keep_alive` it speaks HTTP/1.1 and keeps connections open."""

    def __init__(self, *, keep_alive: bool = False, delay_s: float = 0.0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail = 0
        self.delay_s = delay_s
        self.replies: dict[str, tuple[int, dict[str, Any]]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"
            disable_nagle_algorithm = keep_alive  # the head and the body go out as written

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                if receiver.fail > 0:
                    receiver.fail -= 1
                    status, reply = 503, {"error": "down"}
                else:
                    status, reply = receiver.replies.get(self.path, (200, {"ok": True}))
                time.sleep(receiver.delay_s)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"
