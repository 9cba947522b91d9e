"""An OpenAI-compatible chat endpoint on 127.0.0.1 that replays scripted replies.

The LLM tests drive the real ``openai`` client against this server, so what is tested is the
HTTP exchange a real provider would see (status codes, ``tool_calls``, ``usage``), not a mock
of the client. Every request is recorded for assertions. The server lives only inside a
``with`` block (daemon threads, shut down on exit).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Scripted:
    """One scripted answer: an HTTP status with a JSON body, optionally after a delay."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    delay_s: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


def _completion(message: dict[str, Any], finish: str, usage: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        },
    }


def text(content: str, prompt_tokens: int = 100, completion_tokens: int = 50) -> Scripted:
    """An assistant reply with plain text content."""
    msg = {"role": "assistant", "content": content}
    return Scripted(body=_completion(msg, "stop", (prompt_tokens, completion_tokens)))


def code(source: str, prompt_tokens: int = 100, completion_tokens: int = 50) -> Scripted:
    """An assistant reply holding one fenced python block."""
    return text(f"Here it is.\n\n```python\n{source}\n```\n", prompt_tokens, completion_tokens)


def tool_call(name: str, arguments: dict[str, Any], call_id: str = "call_1") -> Scripted:
    """An assistant reply asking for one function call."""
    msg = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }
    return Scripted(body=_completion(msg, "tool_calls", (80, 20)))


def error(status: int, message: str = "error", retry_after: str | None = None) -> Scripted:
    """An HTTP error in OpenAI's error shape."""
    headers = (("retry-after", retry_after),) if retry_after is not None else ()
    body = {"error": {"message": message, "type": "fake_error", "code": None, "param": None}}
    return Scripted(status=status, body=body, headers=headers)


def delayed(reply: Scripted, seconds: float) -> Scripted:
    """The same reply, sent only after ``seconds`` (to trigger client timeouts)."""
    return Scripted(reply.status, reply.body, seconds, reply.headers)


Responder = Callable[[dict[str, Any]], Scripted]


class FakeOpenAI:
    """Scripted server. ``script`` is consumed in order; a ``responder`` may decide instead."""

    def __init__(self, script: list[Scripted] | None = None, responder: Responder | None = None,
                 port: int = 0):
        self.port = port
        self.script = list(script or [])
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _next(self, request: dict[str, Any]) -> Scripted:
        with self._lock:
            self.requests.append(request)
            if self.responder is not None:
                return self.responder(request)
            if not self.script:
                return error(500, "fake server: script exhausted")
            return self.script.pop(0)

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                payload = json.loads(self.rfile.read(length) or b"{}")
                request = {"path": self.path, "json": payload, "headers": dict(self.headers)}
                if not self.path.endswith("/chat/completions"):
                    reply = error(404, f"fake server: no route {self.path}")
                    fake.requests.append(request)
                else:
                    reply = fake._next(request)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                data = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in reply.headers:
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


@contextmanager
def serve(script: list[Scripted] | None = None, responder: Responder | None = None,
          port: int = 0) -> Iterator[FakeOpenAI]:
    """Run a :class:`FakeOpenAI` for the duration of the block (``port=0``: any free port)."""
    fake = FakeOpenAI(script, responder, port)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def free_port() -> int:
    """A port with nothing listening on it (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
