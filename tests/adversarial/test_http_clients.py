"""Hostile HTTP endpoints against the GitHub client and the LLM client.

Servers are raw sockets on 127.0.0.1 (robust_http.py) that redirect to another port, drip
their answers, or send garbage. Each case asserts a clean error (the client's own error
type, a short message), a bounded time, and that no credential reached the other host.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from adversarial.robust_http import Request, drip, fixed, respond, serve
from agent.github.client import GitHubClient, GitHubError
from agent.llm.client import LLMClient, LLMUnavailable
from agent.llm.config import LLMConfig

TOKEN = "ghp_secret_token_value"
COMMENTS = "/repos/o/r/issues/7/comments"


def _github(url: str, **kw: Any) -> tuple[GitHubClient, list[float]]:
    sleeps: list[float] = []
    settings: dict[str, Any] = {"timeout_s": 1.0, "max_wait_s": 100.0, "max_attempts": 2}
    settings.update(kw)
    return GitHubClient(TOKEN, url, sleep=sleeps.append, **settings), sleeps


def test_github_post_redirected_to_another_host_is_not_followed() -> None:
    with serve(lambda r: fixed("200 OK", b"{}")) as thief:
        target = f"{thief.url}/steal"
        for status in ("301 Moved Permanently", "302 Found", "303 See Other",
                       "307 Temporary Redirect", "308 Permanent Redirect"):
            with serve(lambda r, s=status: fixed(s, b"", {"Location": target})) as api:
                client, _ = _github(api.url)
                with pytest.raises(GitHubError) as err:
                    client.upsert_comment("o", 7, "body")  # GET list, redirected: not followed
                assert "not followed" in str(err.value)
                with pytest.raises(GitHubError, match="not followed"):
                    client.request("POST", COMMENTS, {"body": "x"})
        assert thief.requests == []  # the token never left for the other host


def test_github_post_never_becomes_a_get_on_the_same_host() -> None:
    def answers(req: Request) -> Any:
        if req.method == "POST":
            return fixed("302 Found", b"", {"Location": "/elsewhere"})
        return fixed("200 OK", b'{"html_url": "http://x/1"}')

    with serve(answers) as api:
        client, _ = _github(api.url)
        with pytest.raises(GitHubError, match="302"):
            client.request("POST", COMMENTS, {"body": "x"})
        assert [r.method for r in api.requests] == ["POST"]


def test_github_same_host_get_redirect_is_followed() -> None:
    def answers(req: Request) -> Any:
        if req.path.startswith("/old"):
            return fixed("301 Moved Permanently", b"", {"Location": "/new/pulls/7"})
        return fixed("200 OK", b'{"number": 7}')

    with serve(answers) as api:
        client, _ = _github(api.url)
        assert client.request("GET", "/old/pulls/7").data == {"number": 7}
        assert [r.path for r in api.requests] == ["/old/pulls/7", "/new/pulls/7"]
        assert api.requests[1].headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("prefix", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",  # the body drips
    b"HTTP/1.1 200 OK\r\n",  # the headers drip
])
def test_github_dripping_answer_is_cut_at_the_total_time(prefix: bytes) -> None:
    with serve(lambda r: drip(prefix, b"x" if b"Length" in prefix else b"X", 0.05)) as api:
        client, _ = _github(api.url, timeout_s=1.0, max_attempts=1)
        started = time.monotonic()
        with pytest.raises(GitHubError, match="within 1 s"):
            client.request("GET", "/repos/o/r/pulls/7")
        assert time.monotonic() - started < 4.0


@pytest.mark.parametrize("value", ["²", "1e9", "-3", "soon", "99999999999999999999", ""])
def test_github_malformed_retry_after_is_a_bounded_wait(value: str) -> None:
    calls: list[int] = []

    def answers(req: Request) -> Any:
        calls.append(1)
        if len(calls) == 1:
            return fixed("429 Too Many Requests", b'{"message": "slow"}',
                         {"Retry-After": value} if value else {})
        return fixed("200 OK", b'{"ok": true}')

    with serve(answers) as api:
        client, sleeps = _github(api.url)
        assert client.request("GET", "/rate").data == {"ok": True}
    assert sleeps == [60.0]  # the documented fallback, not a crash nor a huge wait


def test_github_non_json_success_is_an_error_not_created() -> None:
    def answers(req: Request) -> Any:
        if req.method == "GET":
            return fixed("200 OK", b"[]")
        return fixed("201 Created", b"<html>captive portal</html>")

    with serve(answers) as api:
        client, _ = _github(api.url)
        with pytest.raises(GitHubError, match="not JSON"):
            client.upsert_comment("o/r", 7, "body")


def test_github_oversized_bodies_are_capped() -> None:
    huge = b"<html>" + b"A" * 50_000 + b"</html>"
    with serve(lambda r: fixed("200 OK", b"[" + b"1," * 30_000 + b"1]")) as api:
        client, _ = _github(api.url, max_bytes=10_000)
        with pytest.raises(GitHubError, match="larger than 10,000 bytes"):
            client.request("GET", "/big")
    with serve(lambda r: fixed("422 Unprocessable", huge)) as api:
        client, _ = _github(api.url)
        with pytest.raises(GitHubError) as err:
            client.request("POST", COMMENTS, {"body": "x"})
        assert len(str(err.value)) < 400  # what is shown of a body is capped


def _llm(url: str, tmp_path: Path, **kw: Any) -> tuple[LLMClient, list[float]]:
    sleeps: list[float] = []
    settings: dict[str, Any] = {"base_url": f"{url}/v1", "api_key": "sk-secret", "model": "m",
                                "timeout_s": 1.0, "http_retries": 1, "backoff_s": 0.5,
                                "cache_dir": tmp_path, "use_cache": False,
                                "trajectory_path": tmp_path / "t.jsonl"}
    settings.update(kw)
    return LLMClient(LLMConfig(**settings), sleep=sleeps.append), sleeps


MESSAGES = [{"role": "user", "content": "hi"}]
COMPLETION = json.dumps({
    "id": "x", "object": "chat.completion", "created": 0, "model": "m",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "ok"}}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()


@pytest.mark.parametrize("body,ctype", [
    (b"<html><body>Welcome to the hotel wifi</body></html>", "text/html"),
    (b"not json at all", "application/json"),
    (b'{"unexpected": "shape"}', "application/json"),
    (b"[1, 2, 3]", "application/json"),
])
def test_llm_200_that_is_not_a_completion_is_a_clean_error(tmp_path: Path, body: bytes,
                                                           ctype: str) -> None:
    with serve(lambda r: fixed("200 OK", body, {"Content-Type": ctype})) as api:
        client, _ = _llm(api.url, tmp_path)
        with pytest.raises(LLMUnavailable, match="not a chat completion"):
            client.chat(MESSAGES)
    assert len(str(client.unavailable)) < 500


@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "303 See Other",
                                    "307 Temporary Redirect", "308 Permanent Redirect"])
def test_llm_redirect_is_not_followed_with_the_key(tmp_path: Path, status: str) -> None:
    with serve(lambda r: fixed("200 OK", COMPLETION, {"Content-Type": "application/json"})
               ) as thief, serve(lambda r: fixed(status, b"", {"Location": f"{thief.url}/v1"})
                                 ) as api:
        client, _ = _llm(api.url, tmp_path)
        with pytest.raises(LLMUnavailable, match="redirects"):
            client.chat(MESSAGES)
    assert thief.requests == [] and len(api.requests) == 1


def test_llm_dripping_body_is_cut_at_the_total_time(tmp_path: Path) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 99999\r\n\r\n"
    with serve(lambda r: drip(head + b'{"id": "', b"x", 0.05)) as api:
        client, sleeps = _llm(api.url, tmp_path, timeout_s=0.5, http_retries=1)
        started = time.monotonic()
        with pytest.raises(LLMUnavailable, match="no complete answer within 1 s"):
            client.chat(MESSAGES)
        assert time.monotonic() - started < 5.0
    assert len(api.requests) == 2 and sleeps == [0.5]  # retried once, then given up


def test_llm_oversized_body_is_not_read(tmp_path: Path) -> None:
    big = b'{"choices": [], "pad": "' + b"A" * 9_000_000 + b'"}'
    with serve(lambda r: fixed("200 OK", big, {"Content-Type": "application/json"})) as api:
        client, _ = _llm(api.url, tmp_path, http_retries=0)
        with pytest.raises(LLMUnavailable, match="larger than"):
            client.chat(MESSAGES)


@pytest.mark.parametrize("value", ["²", "soon", "1e400", "-5", "nan"])
def test_llm_malformed_retry_after_falls_back_to_backoff(tmp_path: Path, value: str) -> None:
    seen: list[int] = []

    def answers(req: Request) -> Any:
        seen.append(1)
        if len(seen) == 1:
            return fixed("429 Too Many Requests", b'{"error": {"message": "slow"}}',
                         {"Retry-After": value, "Content-Type": "application/json"})
        return fixed("200 OK", COMPLETION, {"Content-Type": "application/json"})

    with serve(answers) as api:
        client, sleeps = _llm(api.url, tmp_path)
        assert client.chat(MESSAGES).content == "ok"
    assert sleeps == [0.5]


def test_raw_server_answers_are_well_formed() -> None:
    """The helper itself: a fixed answer round-trips (guards the tests above)."""
    assert respond("200 OK", b"hi").endswith(b"\r\n\r\nhi")


WARP = '''\
import tensorflow as tf
from tensorflow import keras


class Warp(keras.layers.Layer):
    def call(self, inputs):
        return tf.raw_ops.Bucketize(input=inputs, boundaries=[0.0, 1.0])


model = keras.Sequential([keras.Input(shape=(4,)), Warp(), keras.layers.Dense(2)])
'''


def test_migrate_with_an_endpoint_answering_html_is_a_report_note(tmp_path: Path) -> None:
    from adversarial.robust_harness import k2l

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "warp.py").write_text(WARP)
    html = b"<html>Sign in to continue</html>"
    with serve(lambda r: fixed("200 OK", html, {"Content-Type": "text/html"})) as api:
        run = k2l("migrate", str(src), "--out", str(out), "--base-url", f"{api.url}/v1",
                  "--api-key", "sk-test", "--model", "m", "--no-validate", timeout=120)
    assert not run.traceback and run.code == 1, run.stdout + run.stderr
    assert api.requests  # the stage did ask
    notes = " ".join(json.loads((out / "report.json").read_text())["notes"])
    assert "not a chat completion" in notes and "continued with rules only" in notes
    assert (src / "warp.py").read_text() == WARP
