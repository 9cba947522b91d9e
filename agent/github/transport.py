"""One HTTP exchange on ``urllib``, bounded: total time, body size, and redirects.

urllib alone would follow a redirect to any host with the ``Authorization`` header and turn
a POST into a GET; its timeout bounds each socket read, so a server that drips its answer
byte by byte holds the caller forever. Here a redirect is followed only for a GET to the
same scheme, host and port; a watchdog shuts the connection's socket down when the total
time is spent; and at most ``max_bytes`` of the body are read.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

MAX_BODY = 16 * 1024 * 1024  # GitHub pages of 100 comments stay far below this


class TransportError(Exception):
    """The exchange did not complete; the message says why, for the user."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class _SameOriginGet(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only for a GET that stays on the same origin; otherwise urllib
    raises the 3xx as an HTTPError, which the caller reports."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        old, new = urlsplit(req.full_url), urlsplit(newurl)
        if req.get_method() != "GET" or (old.scheme, old.netloc) != (new.scheme, new.netloc):
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


Sockets = list[socket.socket]


def _tracking(cls: type[http.client.HTTPConnection], seen: Sockets
              ) -> Callable[..., http.client.HTTPConnection]:
    """A connection factory that records each socket it opens: urllib drops the
    connection's reference once the headers are read, the watchdog still needs it."""
    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        conn = cls(host, **kwargs)
        connect = conn.connect

        def tracked() -> None:
            connect()
            seen.append(conn.sock)

        setattr(conn, "connect", tracked)  # noqa: B010 - mypy forbids assigning a method
        return conn

    return make


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, seen: Sockets) -> None:
        super().__init__()
        self.seen = seen

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_tracking(http.client.HTTPConnection, self.seen), req)


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, seen: Sockets) -> None:
        super().__init__()
        self.seen = seen

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_tracking(http.client.HTTPSConnection, self.seen), req,
                            context=getattr(self, "_context", None))


class _Readable(Protocol):
    def read(self, n: int, /) -> bytes: ...


def _read(stream: _Readable, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise TransportError(f"the answer is larger than {max_bytes:,} bytes: not read")
        chunks.append(chunk)


def exchange(method: str, url: str, headers: Mapping[str, str], data: bytes | None, *,
             timeout_s: float, max_bytes: int = MAX_BODY) -> Answer:
    """Send one request; any status comes back as an :class:`Answer`, anything that stops
    the exchange (no connection, time or size exceeded) as :class:`TransportError`."""
    seen: Sockets = []
    expired = threading.Event()

    def abort() -> None:
        expired.set()
        for sock in list(seen):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    opener = urllib.request.build_opener(_SameOriginGet(), _HTTP(seen), _HTTPS(seen))
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
    watchdog = threading.Timer(timeout_s, abort)
    watchdog.daemon = True
    watchdog.start()
    late = TransportError(f"no complete answer within {timeout_s:g} s")
    try:
        try:
            with opener.open(req, timeout=timeout_s) as resp:
                answer = Answer(resp.status, dict(resp.headers.items()), _read(resp, max_bytes))
        except urllib.error.HTTPError as e:
            try:
                body = _read(e, max_bytes)
            except (OSError, http.client.HTTPException):
                body = b""
            answer = Answer(e.code, dict(e.headers.items()) if e.headers else {}, body)
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
        if expired.is_set():
            raise late from None
        reason = getattr(e, "reason", e)
        raise TransportError(str(reason)) from None
    finally:
        watchdog.cancel()
        for sock in seen:
            sock.close()
    if expired.is_set():  # a socket shut down mid-body reads as a short, "complete" body
        raise late
    return answer
