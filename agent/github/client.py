"""A small GitHub REST client on ``urllib``: the bot must run in any CI without extra packages.

Every failure becomes a :class:`GitHubError` whose message tells the user what to do; the
command prints it and exits non-zero, so nobody sees a stack trace for a bad token.
Rate limits are waited out, but only within ``max_wait_s`` in all: a CI job that sleeps for
an hour is worse than one that fails and says why.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from agent.github.render import MARKER
from agent.github.transport import MAX_BODY, TransportError, exchange

DEFAULT_API_URL = "https://api.github.com"
PER_PAGE = 100
MAX_PAGES = 50  # 5,000 comments: enough for any real pull request, and a bound on the loop
SERVER_ERRORS = (500, 502, 503, 504)
_SECONDS = re.compile(r"[0-9]{1,9}")

PERMISSION_HINT = (
    "the token lacks permission to comment. In GitHub Actions give the job "
    "`permissions: pull-requests: write`; pull requests from forks only get a read-only "
    "token (see docs/pr-bot.md)"
)


class GitHubError(Exception):
    """A failed GitHub call, with a message meant for the user, not a developer."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Response:
    """Status, headers and decoded JSON of one finished request."""

    def __init__(self, status: int, headers: Mapping[str, str], data: Any) -> None:
        self.status = status
        self.headers = headers
        self.data = data


_NOT_JSON = object()


def _excerpt(raw: bytes) -> str:
    """The start of a body, for a message: never more than 200 characters."""
    return raw[:200].decode("utf-8", errors="replace")


def _decode(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw.decode("utf-8", errors="replace"))
    except (json.JSONDecodeError, RecursionError):
        return _NOT_JSON


def _message(data: Any) -> str:
    if isinstance(data, Mapping):
        msg = str(data.get("message", "")).strip()
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            msg += " (" + "; ".join(str(e.get("message", e)) if isinstance(e, Mapping) else str(e)
                                    for e in errors[:3]) + ")"
        return msg or "no message"
    return "no message"


class GitHubClient:
    """Just the calls the PR bot needs: read a PR, list/create/update its comments, review."""

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time,
        max_wait_s: float = 300.0,
        max_attempts: int = 5,
        timeout_s: float = 30.0,
        max_bytes: int = MAX_BODY,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._sleep = sleep
        self._now = now
        self.max_wait_s = max_wait_s
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s  # per request, in all: connect, headers and body
        self.max_bytes = max_bytes
        self.waited_s = 0.0  # rate-limit and retry waits so far, across all calls

    # -- transport ---------------------------------------------------------------------------

    def _send(self, method: str, path: str, body: Any) -> Response:
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                   "User-Agent": "k2l-agent", "Authorization": f"Bearer {self._token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            answer = exchange(method, self.api_url + path, headers, data,
                              timeout_s=self.timeout_s, max_bytes=self.max_bytes)
        except TransportError as e:
            raise GitHubError(f"cannot reach the GitHub API at {self.api_url} ({method} {path}): "
                              f"{e}") from None
        data_out = _decode(answer.body)
        if 200 <= answer.status < 300 and data_out is _NOT_JSON:
            raise GitHubError(f"{method} {path}: GitHub answered {answer.status} with a body "
                              f"that is not JSON: {_excerpt(answer.body)!r}", answer.status)
        if data_out is _NOT_JSON:
            data_out = {"message": _excerpt(answer.body)}
        return Response(answer.status, answer.headers, data_out)

    def _rate_limit_wait(self, resp: Response) -> float | None:
        """Seconds to wait when ``resp`` is a rate-limit answer, else None."""
        h = {k.lower(): v for k, v in resp.headers.items()}
        limited = resp.status == 429 or (
            resp.status == 403
            and ("retry-after" in h or h.get("x-ratelimit-remaining") == "0"
                 or "rate limit" in _message(resp.data).lower())
        )
        if not limited:
            return None
        if "retry-after" in h:
            value = h["retry-after"].strip()
            if _SECONDS.fullmatch(value):  # ASCII digits only: "²".isdigit() is True
                return float(value)
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - self._now())
            except (TypeError, ValueError, IndexError, OverflowError):
                return 60.0
        if _SECONDS.fullmatch(h.get("x-ratelimit-reset", "").strip()):
            return max(0.0, float(h["x-ratelimit-reset"]) - self._now()) + 1.0
        return 60.0  # GitHub's advice for a secondary limit without headers

    def _wait(self, seconds: float, why: str) -> None:
        if self.waited_s + seconds > self.max_wait_s:
            raise GitHubError(
                f"{why}: GitHub asks to wait {seconds:.0f}s, more than the "
                f"{self.max_wait_s:.0f}s this tool waits in all; run it again later",
                429,
            )
        self.waited_s += seconds
        self._sleep(seconds)

    def request(self, method: str, path: str, body: Any = None) -> Response:
        """One call, retried through rate limits and server errors; 2xx or GitHubError."""
        for attempt in range(1, self.max_attempts + 1):
            resp = self._send(method, path, body)
            if 200 <= resp.status < 300:
                return resp
            last = attempt == self.max_attempts
            wait = self._rate_limit_wait(resp)
            if wait is not None and not last:
                self._wait(wait, "rate limited")
                continue
            if resp.status in SERVER_ERRORS and not last:
                self._wait(float(2 ** (attempt - 1)), f"GitHub answered {resp.status}")
                continue
            raise self._error(method, path, resp)
        raise GitHubError(f"{method} {path}: no attempt was made")  # max_attempts < 1

    def _error(self, method: str, path: str, resp: Response) -> GitHubError:
        msg, status = _message(resp.data), resp.status
        if status == 401:
            text = (f"GitHub rejected the token (401: {msg}). Set GITHUB_TOKEN to a valid token "
                    "with access to this repository.")
        elif status == 403 and self._rate_limit_wait(resp) is not None:
            text = f"still rate limited after {self.max_attempts} attempts (403: {msg})"
        elif status == 403:
            text = f"GitHub refused {method} {path} (403: {msg}): {PERMISSION_HINT}."
        elif status == 404:
            text = f"not found (404) at {method} {path}: {msg}"
        elif 300 <= status < 400:
            where = {k.lower(): v for k, v in resp.headers.items()}.get("location", "?")
            text = (f"GitHub answered {status} to {method} {path}, a redirect to "
                    f"{where[:200]}: not followed (only a GET on the same host is; the token "
                    "is never sent elsewhere and a write is never turned into a read)")
        else:
            text = f"GitHub answered {status} to {method} {path}: {msg}"
        return GitHubError(text, status)

    # -- the bot's calls ---------------------------------------------------------------------

    def _pages(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        sep = "&" if "?" in path else "?"
        for page in range(1, MAX_PAGES + 1):
            data = self.request("GET", f"{path}{sep}per_page={PER_PAGE}&page={page}").data
            if not isinstance(data, list):
                raise GitHubError(f"unexpected answer from GET {path}: not a list")
            items.extend(d for d in data if isinstance(d, dict))
            if len(data) < PER_PAGE:
                break
        return items

    def get_pull(self, repo: str, number: int) -> dict[str, Any]:
        """The pull request; a clear error when it does not exist or cannot be seen."""
        try:
            data = self.request("GET", f"/repos/{repo}/pulls/{number}").data
        except GitHubError as e:
            if e.status == 404:
                raise GitHubError(
                    f"pull request {repo}#{number} not found: check --repo and --pr, and that "
                    "the token can see the repository", 404) from None
            raise
        if not isinstance(data, dict):
            raise GitHubError(f"unexpected answer for pull request {repo}#{number}")
        return data

    def find_own_comment(self, repo: str, number: int,
                         marker: str = MARKER) -> dict[str, Any] | None:
        """Our earlier comment: the first whose body *starts* with the hidden marker.

        Starting with it (not merely containing it) keeps a human quoting our comment from
        being mistaken for it.
        """
        for c in self._pages(f"/repos/{repo}/issues/{number}/comments"):
            if str(c.get("body") or "").lstrip().startswith(marker):
                return c
        return None

    def upsert_comment(self, repo: str, number: int, body: str) -> tuple[str, str]:
        """Update our comment or create it; returns ("updated" | "created", its URL)."""
        own = self.find_own_comment(repo, number)
        if own is not None and "id" in own:
            data = self.request("PATCH", f"/repos/{repo}/issues/comments/{own['id']}",
                                {"body": body}).data
            action = "updated"
        else:
            data = self.request("POST", f"/repos/{repo}/issues/{number}/comments",
                                {"body": body}).data
            action = "created"
        url = str(data.get("html_url", "")) if isinstance(data, dict) else ""
        return action, url

    def pull_files(self, repo: str, number: int) -> list[dict[str, Any]]:
        return self._pages(f"/repos/{repo}/pulls/{number}/files")

    def review_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        return self._pages(f"/repos/{repo}/pulls/{number}/comments")

    def create_review(self, repo: str, number: int, commit_id: str, body: str,
                      comments: list[dict[str, Any]]) -> None:
        self.request("POST", f"/repos/{repo}/pulls/{number}/reviews",
                     {"commit_id": commit_id, "event": "COMMENT", "body": body,
                      "comments": comments})
