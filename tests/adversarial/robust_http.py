"""A raw HTTP server on 127.0.0.1 for hostile-endpoint tests: each answer is a function that
writes bytes to the socket (so it can drip, redirect, or send garbage). Every request is
recorded; the server and its threads stop with the ``with`` block, and no answer may write
for longer than ``MAX_ANSWER_S``."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

MAX_ANSWER_S = 20.0


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Answer = Callable[[socket.socket, Request, threading.Event], None]


@dataclass
class Server:
    port: int
    requests: list[Request] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _read_request(conn: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return Request(method, path, headers, body)


def respond(status: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def fixed(status: str, body: bytes, headers: dict[str, str] | None = None) -> Answer:
    def answer(conn: socket.socket, req: Request, stop: threading.Event) -> None:
        conn.sendall(respond(status, body, headers))
    return answer


def drip(prefix: bytes, byte: bytes = b" ", every_s: float = 0.1) -> Answer:
    """Send ``prefix``, then one byte every ``every_s`` until the client leaves."""
    def answer(conn: socket.socket, req: Request, stop: threading.Event) -> None:
        conn.sendall(prefix)
        end = time.monotonic() + MAX_ANSWER_S
        while not stop.is_set() and time.monotonic() < end:
            conn.sendall(byte)
            time.sleep(every_s)
    return answer


@contextmanager
def serve(answers: Callable[[Request], Answer]) -> Iterator[Server]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    server = Server(listener.getsockname()[1])
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(MAX_ANSWER_S)
            try:
                req = _read_request(conn)
                if req is None:
                    return
                server.requests.append(req)
                answers(req)(conn, req, stop)
            except OSError:
                pass  # the client gave up: what these tests provoke

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(5)
        listener.close()
