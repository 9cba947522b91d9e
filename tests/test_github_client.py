"""pr-comment and the GitHub client against a fake GitHub REST API on 127.0.0.1.

The fake keeps comments, reviews and pull requests in memory, answers like GitHub does
(401 for a bad token, 404 for an unknown PR, 422 for a body over 65,536 characters) and can
be scripted to answer the next requests with errors such as rate limits.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from markdown_it import MarkdownIt

from agent.commands.pr_comment import pr_comment
from agent.github.client import GitHubClient, GitHubError
from agent.github.render import COMMENT_LIMIT, MARKER
from agent.github.suggest import SUGGESTION_MARKER, Suggestion, suggestions_for_file
from agent.records import CheckResult, FileResult, Report, Unmapped, report_to_json

TOKEN = "good-token"
REPO = "octo/models"
PR = 7
HEAD = "feedface" * 5
PASSED = (CheckResult("ruff", "passed"), CheckResult("mypy", "passed"))


class FakeGitHub:
    """In-memory GitHub: just the endpoints the bot uses."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix  # "/api/v3" for a GitHub Enterprise style URL
        self.pulls = {PR: {"number": PR, "head": {"sha": HEAD}}}
        self.comments: dict[int, dict[str, Any]] = {}
        self.pr_files: list[dict[str, Any]] = []
        self.review_comments: list[dict[str, Any]] = []
        self.reviews: list[dict[str, Any]] = []
        self.script: list[tuple[int, dict[str, str], dict[str, Any]]] = []
        self.log: list[tuple[str, str]] = []
        self.next_id = 1000
        self.lock = threading.Lock()

    def add_comment(self, body: str) -> int:
        self.next_id += 1
        self.comments[self.next_id] = {"id": self.next_id, "body": body,
                                       "html_url": f"https://github.test/c/{self.next_id}"}
        return self.next_id

    def handle(self, method: str, raw_path: str, auth: str,
               body: Any) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            self.log.append((method, raw_path))
            if self.script:
                return self.script.pop(0)
            if auth != f"Bearer {TOKEN}":
                return 401, {}, {"message": "Bad credentials"}
            url = urlsplit(raw_path)
            if not url.path.startswith(self.prefix + "/repos/"):
                return 404, {}, {"message": "Not Found"}
            parts = url.path[len(self.prefix):].strip("/").split("/")
            page = int(parse_qs(url.query).get("page", ["1"])[0])
            per_page = int(parse_qs(url.query).get("per_page", ["30"])[0])
            return self.route(method, parts, body, page, per_page)

    def route(self, method: str, parts: list[str], body: Any, page: int,
              per_page: int) -> tuple[int, dict[str, str], Any]:
        if "/".join(parts[1:3]) != REPO:
            return 404, {}, {"message": "Not Found"}
        kind, rest = parts[3], parts[4:]
        paged = slice((page - 1) * per_page, page * per_page)
        if kind == "pulls" and rest and int(rest[0]) not in self.pulls:
            return 404, {}, {"message": "Not Found"}
        if kind == "issues" and rest[0] != "comments" and int(rest[0]) not in self.pulls:
            return 404, {}, {"message": "Not Found"}
        match method, kind, rest:
            case "GET", "pulls", [n]:
                return 200, {}, self.pulls[int(n)]
            case "GET", "pulls", [_, "files"]:
                return 200, {}, self.pr_files[paged]
            case "GET", "pulls", [_, "comments"]:
                return 200, {}, self.review_comments[paged]
            case "POST", "pulls", [_, "reviews"]:
                self.reviews.append(body)
                for c in body["comments"]:
                    self.review_comments.append({"path": c["path"], "line": c["line"],
                                                 "body": c["body"]})
                return 200, {}, {"id": len(self.reviews)}
            case "GET", "issues", [_, "comments"]:
                return 200, {}, list(self.comments.values())[paged]
            case "POST" | "PATCH", "issues", _ if len(body["body"]) > COMMENT_LIMIT:
                return 422, {}, {"message": "Validation Failed",
                                 "errors": [{"message": "body is too long"}]}
            case "POST", "issues", [_, "comments"]:
                cid = self.add_comment(body["body"])
                return 201, {}, self.comments[cid]
            case "PATCH", "issues", ["comments", cid] if int(cid) in self.comments:
                self.comments[int(cid)]["body"] = body["body"]
                return 200, {}, self.comments[int(cid)]
        return 404, {}, {"message": "Not Found"}


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, headers, data = fake.handle(self.command, self.path,
                                                self.headers.get("Authorization", ""), body)
            raw = json.dumps(data).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


@contextmanager
def serve(gh: FakeGitHub) -> Iterator[str]:
    """Run the fake on a free local port for the duration of the block; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(gh))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def fake() -> Iterator[tuple[FakeGitHub, str]]:
    gh = FakeGitHub()
    with serve(gh) as url:
        yield gh, url


def write_report(tmp_path: Path, *files: FileResult, name: str = "report.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(report_to_json(Report(".", "k2l-out", tuple(files)))))
    return path


def converted(path: str = "net.py", diff: str = "") -> FileResult:
    diff = diff or f"--- a/{path}\n+++ b/{path}\n@@ -1,2 +1,2 @@\n-import keras\n+import torch\n x = 1\n"
    return FileResult(path, "converted", checks=PASSED, diff=diff)


def partial() -> FileResult:
    return FileResult("layers.py", "partial", unmapped=(
        Unmapped("layers.py", 9, "keras.layers.Layer", "custom layer", "Attn"),))


class Run:
    """One pr-comment call, with its output and the sleeps it asked for."""

    def __init__(self, report: Path, url: str, *, token: str = TOKEN, pr: int = PR,
                 suggest: bool = False, dry_run: bool = False,
                 env: dict[str, str] | None = None) -> None:
        self.out, self.err, self.sleeps = io.StringIO(), io.StringIO(), list[float]()
        self.env = {"GITHUB_API_URL": url} | ({"GITHUB_TOKEN": token} if token else {})
        self.env |= env or {}
        self.code = pr_comment(report, REPO, pr, dry_run, suggest, env=self.env,
                               sleep=self.sleeps.append, out=self.out, err=self.err)


def test_first_run_creates_exactly_one_comment(fake: tuple[FakeGitHub, str],
                                                tmp_path: Path) -> None:
    gh, url = fake
    run = Run(write_report(tmp_path, converted(), partial()), url)
    assert run.code == 0, run.err.getvalue()
    assert len(gh.comments) == 1
    body = next(iter(gh.comments.values()))["body"]
    assert body.startswith(MARKER + "\n")
    # links go to the head commit the PR API reported
    assert f"(https://github.com/{REPO}/blob/{HEAD}/layers.py#L9)" in body
    assert [m for m, _ in gh.log].count("POST") == 1
    assert "created the k2l-agent comment" in run.err.getvalue()


def test_second_run_updates_the_same_comment(fake: tuple[FakeGitHub, str],
                                             tmp_path: Path) -> None:
    gh, url = fake
    for i in range(150):  # other people's comments: ours ends up on page 2 of the listing
        gh.add_comment(f"comment {i}, quoting:\n> {MARKER}")
    assert Run(write_report(tmp_path, partial()), url).code == 0
    ours = [c for c in gh.comments.values() if c["body"].startswith(MARKER)]
    assert len(ours) == 1 and "1 need" in ours[0]["body"]

    run = Run(write_report(tmp_path, converted(), name="second.json"), url)
    assert run.code == 0, run.err.getvalue()
    ours_now = [c for c in gh.comments.values() if c["body"].startswith(MARKER)]
    assert [c["id"] for c in ours_now] == [ours[0]["id"]]
    assert "**1 converted · 0 need attention" in ours_now[0]["body"]
    assert [m for m, _ in gh.log].count("POST") == 1
    assert [m for m, _ in gh.log].count("PATCH") == 1
    assert len(gh.comments) == 151
    assert "updated the k2l-agent comment" in run.err.getvalue()


def test_comment_over_the_limit_is_cut_cleanly(fake: tuple[FakeGitHub, str],
                                               tmp_path: Path) -> None:
    gh, url = fake
    big = [converted(f"pkg/m{i}.py", "--- a\n+++ b\n@@ -1 +1 @@\n" + "+y = 1\n" * 1500)
           for i in range(12)]
    run = Run(write_report(tmp_path, partial(), *big), url)
    assert run.code == 0, run.err.getvalue()  # the fake answers 422 to a body over the limit
    body = next(iter(gh.comments.values()))["body"]
    assert len(body) <= COMMENT_LIMIT
    tokens = MarkdownIt("commonmark").enable("table").parse(body)
    html = "".join(t.content for t in tokens if t.type == "html_block")
    fences = [t for t in tokens if t.type == "fence"]
    assert html.count("<details>") == html.count("</details>") == len(fences) > 0
    assert "Cut to fit GitHub's 65,536-character comment limit" in body
    assert "the diffs of `pkg/m" in body and str(tmp_path / "report.json") in body


def test_rate_limit_403_with_retry_after_then_success(fake: tuple[FakeGitHub, str],
                                                      tmp_path: Path) -> None:
    gh, url = fake
    gh.script.append((403, {"Retry-After": "7"}, {"message": "You have exceeded a secondary "
                                                              "rate limit."}))
    run = Run(write_report(tmp_path, converted()), url)
    assert run.code == 0, run.err.getvalue()
    assert run.sleeps == [7.0]
    assert len(gh.comments) == 1


def test_rate_limit_reset_header_is_waited_out(fake: tuple[FakeGitHub, str]) -> None:
    gh, url = fake
    gh.script += [(403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1030"},
                   {"message": "API rate limit exceeded"}),
                  (429, {"Retry-After": "2"}, {"message": "slow down"})]
    sleeps: list[float] = []
    client = GitHubClient(TOKEN, url, sleep=sleeps.append, now=lambda: 1000.0)
    assert client.get_pull(REPO, PR)["head"]["sha"] == HEAD
    assert sleeps == [31.0, 2.0]  # reset - now, plus one second of margin


def test_rate_limit_longer_than_the_bound_fails_clearly(fake: tuple[FakeGitHub, str],
                                                        tmp_path: Path) -> None:
    gh, url = fake
    gh.script.append((429, {"Retry-After": "3600"}, {"message": "rate limited"}))
    run = Run(write_report(tmp_path, converted()), url)
    assert run.code == 1
    assert run.sleeps == []
    assert "more than the 300s this tool waits" in run.err.getvalue()
    assert gh.comments == {}


def test_bad_token_401_gives_a_clear_message(fake: tuple[FakeGitHub, str],
                                             tmp_path: Path) -> None:
    gh, url = fake
    run = Run(write_report(tmp_path, converted()), url, token="wrong")
    assert run.code == 1
    err = run.err.getvalue()
    assert err.startswith("error: GitHub rejected the token (401: Bad credentials)")
    assert "GITHUB_TOKEN" in err and "Traceback" not in err and "wrong" not in err
    assert gh.comments == {}


def test_wrong_pr_404_gives_a_clear_message(fake: tuple[FakeGitHub, str],
                                            tmp_path: Path) -> None:
    gh, url = fake
    run = Run(write_report(tmp_path, converted()), url, pr=99)
    assert run.code == 1
    assert f"pull request {REPO}#99 not found" in run.err.getvalue()
    assert gh.comments == {}


def test_missing_permission_403_explains_the_fix(fake: tuple[FakeGitHub, str],
                                                 tmp_path: Path) -> None:
    gh, url = fake
    gh.script.append((403, {}, {"message": "Resource not accessible by integration"}))
    run = Run(write_report(tmp_path, converted()), url)
    assert run.code == 1
    err = run.err.getvalue()
    assert "Resource not accessible by integration" in err
    assert "permissions: pull-requests: write" in err and run.sleeps == []


def test_enterprise_api_url_is_honoured(tmp_path: Path) -> None:
    gh = FakeGitHub(prefix="/api/v3")
    with serve(gh) as url:
        run = Run(write_report(tmp_path, converted()), url + "/api/v3/",
                  env={"GITHUB_SERVER_URL": "https://ghe.example.com"})
    assert run.code == 0, run.err.getvalue()
    assert gh.log and all(p.startswith("/api/v3/repos/") for _, p in gh.log)
    assert len(gh.comments) == 1


def test_unreachable_api_is_a_clear_error(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()  # nothing listens there any more
    run = Run(write_report(tmp_path, converted()), f"http://127.0.0.1:{port}")
    assert run.code == 1
    assert "cannot reach the GitHub API" in run.err.getvalue()


def test_dry_run_prints_and_posts_nothing(fake: tuple[FakeGitHub, str],
                                          tmp_path: Path) -> None:
    gh, url = fake
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": PR, "head": {"sha": HEAD}}}))
    run = Run(write_report(tmp_path, partial()), url, dry_run=True,
              env={"GITHUB_EVENT_PATH": str(event)})
    assert run.code == 0
    assert run.out.getvalue().startswith(MARKER)
    assert f"/blob/{HEAD}/layers.py#L9" in run.out.getvalue()  # head sha from the event
    assert gh.log == []

    plain = Run(write_report(tmp_path, partial()), url, dry_run=True)
    assert "at layers.py:9 (in `Attn`)" in plain.out.getvalue()  # no head sha: plain text


@pytest.mark.parametrize(("content", "message"), [
    (None, "report not found"),
    ("{not json", "is not valid JSON"),
    ('{"tool": "other"}', "is not a k2l-agent report.json"),
])
def test_bad_report_exits_2(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    run = Run(path, "http://127.0.0.1:9")
    assert run.code == 2 and message in run.err.getvalue()


def test_missing_token_exits_2(tmp_path: Path) -> None:
    run = Run(write_report(tmp_path, converted()), "http://127.0.0.1:9", token="")
    assert run.code == 2 and "GITHUB_TOKEN is not set" in run.err.getvalue()


# -- suggestions ------------------------------------------------------------------------------

SMALL_DIFF = ("--- a/net.py\n+++ b/net.py\n@@ -1,6 +1,7 @@\n-import keras\n+import torch\n"
              " \n x = 1\n-y = keras.layers.Dense(3)\n-z = keras.layers.ReLU()\n"
              "+y = torch.nn.LazyLinear(3)\n+z = torch.nn.ReLU()\n w = 2\n+v = 3\n")


def test_suggestions_from_a_unified_diff() -> None:
    f = report_to_json(Report(".", "o", (converted("net.py", SMALL_DIFF),)))["files"][0]
    assert suggestions_for_file(f) == [
        Suggestion("net.py", 1, 1, ("import torch",)),
        Suggestion("net.py", 4, 5, ("y = torch.nn.LazyLinear(3)", "z = torch.nn.ReLU()")),
        Suggestion("net.py", 6, 6, ("w = 2", "v = 3")),  # an insertion, anchored on line 6
    ]


def test_no_suggestions_for_files_needing_attention() -> None:
    f = report_to_json(Report(".", "o", (FileResult("x.py", "partial", diff=SMALL_DIFF),)))
    assert suggestions_for_file(f["files"][0]) == []


def test_suggest_posts_one_review_once(fake: tuple[FakeGitHub, str], tmp_path: Path) -> None:
    gh, url = fake
    # the PR touched lines 1-4 of net.py only: the suggestion on 4-5 and 6 cannot be posted
    gh.pr_files = [{"filename": "net.py", "patch": "@@ -1,3 +1,4 @@\n+a\n b\n c\n d\n"}]
    report = write_report(tmp_path, converted("net.py", SMALL_DIFF))
    run = Run(report, url, suggest=True)
    assert run.code == 0, run.err.getvalue()
    assert len(gh.reviews) == 1
    review = gh.reviews[0]
    assert review["commit_id"] == HEAD and review["event"] == "COMMENT"
    assert review["comments"] == [{
        "path": "net.py", "line": 1, "side": "RIGHT",
        "body": f"{SUGGESTION_MARKER}\n```suggestion\nimport torch\n```",
    }]
    again = Run(report, url, suggest=True)
    assert again.code == 0 and len(gh.reviews) == 1  # already posted: no second review
    assert "posted 0 suggestion(s)" in again.err.getvalue()


def test_server_errors_are_retried_within_a_bound(fake: tuple[FakeGitHub, str]) -> None:
    gh, url = fake
    gh.script += [(502, {}, {"message": "Bad Gateway"})] * 2
    sleeps: list[float] = []
    client = GitHubClient(TOKEN, url, sleep=sleeps.append, max_attempts=3)
    assert client.get_pull(REPO, PR)["number"] == PR
    assert sleeps == [1.0, 2.0]  # exponential backoff

    gh.script += [(503, {}, {"message": "Unavailable"})] * 3
    with pytest.raises(GitHubError, match="GitHub answered 503") as info:
        client.get_pull(REPO, PR)
    assert info.value.status == 503 and sleeps == [1.0, 2.0, 1.0, 2.0]
