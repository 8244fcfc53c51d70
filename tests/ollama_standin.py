"""A stand-in for an Ollama server, for tests: the Ollama HTTP protocol on 127.0.0.1, not Ollama.

It answers /api/tags, /api/version, /api/chat and /api/generate (NDJSON streaming or one JSON
object), so the real `ollama` client code runs against it. Behaviour is scripted per test:
the reply text, a delay between streamed pieces, a dropped connection, an HTTP error.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    """What the stand-in does next."""

    models: list[str] = field(default_factory=lambda: ["standin:latest"])
    reply: Callable[[dict[str, Any]], str] = lambda request: "Hello from the stand-in."
    piece_size: int = 5  # characters per streamed piece
    delay: float = 0.0  # seconds before each piece
    drop_after: int | None = None  # close the connection after this many pieces
    status: int = 200  # an HTTP error status to answer with instead
    requests: list[dict[str, Any]] = field(default_factory=list)


class OllamaStandIn:
    """Start with `start()`; `url` is its base address; `stop()` ends it."""

    def __init__(self) -> None:
        self.script = Script()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:  # keep test output quiet
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/api/tags":
                    models = [
                        {"name": m, "model": m, "size": 1, "digest": "0" * 64}
                        for m in standin.script.models
                    ]
                    self._json(200, {"models": models})
                elif self.path == "/api/version":
                    self._json(200, {"version": "0.0.0-standin"})
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:
                # The client may give up first (a timeout test): then there is no one to answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._post()

            def _post(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                script = standin.script
                script.requests.append({"path": self.path, **request})
                if script.status != 200:
                    self._json(script.status, {"error": "stand-in scripted failure"})
                    return
                if request.get("model") not in script.models:
                    model = request.get("model")
                    self._json(404, {"error": f'model "{model}" not found, try pulling it first'})
                    return
                key = "message" if self.path == "/api/chat" else "response"
                text = script.reply(request)
                pieces = [
                    text[i : i + script.piece_size] for i in range(0, len(text), script.piece_size)
                ]
                if not request.get("stream", True):
                    time.sleep(script.delay)
                    self._json(200, self._chunk(request, key, text, done=True))
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for number, piece in enumerate(pieces):
                    if script.drop_after is not None and number >= script.drop_after:
                        self.wfile.flush()
                        self.connection.shutdown(2)
                        return
                    time.sleep(script.delay)
                    self._write_chunk(self._chunk(request, key, piece, done=False))
                self._write_chunk(self._chunk(request, key, "", done=True))
                self.wfile.write(b"0\r\n\r\n")

            def _chunk(
                self, request: dict[str, Any], key: str, text: str, done: bool
            ) -> dict[str, Any]:
                body: dict[str, Any] = {
                    "model": request.get("model"),
                    "created_at": "2026-01-01T00:00:00Z",
                    "done": done,
                }
                body[key] = {"role": "assistant", "content": text} if key == "message" else text
                if done:
                    body.update(done_reason="stop", total_duration=1, eval_count=1)
                return body

            def _write_chunk(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode() + b"\n"
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> OllamaStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
