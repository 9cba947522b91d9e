"""The HTTP side of the LLM client, bounded: redirects, body size, total time.

The ``openai`` package's own client follows redirects (a POST answered 302 becomes a GET,
possibly to another host) and bounds each socket read, not the request: an endpoint that
drips its answer holds the run forever. Here: no redirect is followed, at most
``max_bytes`` are read, and :func:`call_with_deadline` gives up on the whole request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import openai

try:  # the HTTP library the installed openai package is built on
    import httpx2 as httpx
except ImportError:  # pragma: no cover - openai < 3 uses httpx
    import httpx  # type: ignore[no-redef]

MAX_BODY = 8 * 1024 * 1024  # a chat completion is kilobytes; a runaway answer is not read
T = TypeVar("T")


class Deadline(Exception):
    """The request did not complete within its total time."""


class _Capped(httpx.SyncByteStream):
    def __init__(self, inner: Any, max_bytes: int) -> None:
        self.inner = inner
        self.max_bytes = max_bytes

    def __iter__(self) -> Iterator[bytes]:
        total = 0
        for chunk in self.inner:
            total += len(chunk)
            if total > self.max_bytes:
                raise httpx.ReadError(f"answer larger than {self.max_bytes:,} bytes: not read")
            yield chunk

    def close(self) -> None:
        self.inner.close()


class _CappedTransport(httpx.BaseTransport):
    def __init__(self, max_bytes: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.max_bytes = max_bytes

    def handle_request(self, request: Any) -> Any:
        response = self.inner.handle_request(request)
        return httpx.Response(response.status_code, headers=response.headers,
                              stream=_Capped(response.stream, self.max_bytes),
                              extensions=response.extensions)

    def close(self) -> None:
        self.inner.close()


def http_client(timeout_s: float, max_bytes: int = MAX_BODY) -> Any:
    """The httpx client handed to ``openai.OpenAI``: no redirects, capped bodies."""
    return openai.DefaultHttpxClient(timeout=timeout_s, follow_redirects=False,
                                     transport=_CappedTransport(max_bytes))


def call_with_deadline(fn: Callable[[], T], seconds: float, on_expiry: Callable[[], None]
                       ) -> T:
    """``fn()`` in a daemon thread; :class:`Deadline` after ``seconds`` (``on_expiry``
    closes the connections so the abandoned thread ends soon)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    worker = threading.Thread(target=run, name="k2l-llm-request", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        on_expiry()
        raise Deadline(f"no complete answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]
