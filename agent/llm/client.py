"""A thin, budgeted wrapper over the ``openai`` chat client.

Why not the client's own retries: we need them bounded, counted and testable (injectable
sleep), and we need to tell "this request failed" (the piece stays for the user) from "the
endpoint is gone" (:class:`LLMUnavailable`: the run continues with rules only and says so).
The client is meant to be shared by a whole run: the token and cost budgets are per run.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import openai

from agent.llm.cache import LLMCache, cache_key
from agent.llm.config import LLMConfig
from agent.llm.trajectory import Trajectory
from agent.llm.transport import Deadline, call_with_deadline, http_client

Message = dict[str, Any]
MAX_BACKOFF_S = 30.0
TOTAL_FACTOR = 2  # one request, connect to last byte, gets at most twice the read timeout
_SECONDS = re.compile(r"[0-9]{1,9}(\.[0-9]{1,6})?")  # ASCII only: "²" is a digit to str.isdigit


class LLMError(Exception):
    """Base of the LLM stage's errors; the message is meant for the report."""


class LLMUnavailable(LLMError):
    """The endpoint cannot be used at all (down, timing out, refused credentials)."""


class BudgetExceeded(LLMError):
    """The per-run token or cost budget is spent; no further request is sent."""


class LLMRequestError(LLMError):
    """One request was rejected (e.g. too long); other pieces may still go through."""


class _ToolsRejected(Exception):
    pass


class _NotACompletion(Exception):
    """A 2xx answer whose body is not a chat completion (HTML, plain text, wrong JSON)."""


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it


@dataclass(frozen=True)
class ChatReply:
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    estimated: bool = False  # token counts estimated from sizes (the server sent no usage)
    cut_off: bool = False  # finish_reason "length": the answer hit max_tokens

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def assistant_message(self) -> Message:
        """The reply as the next request's history entry."""
        msg: Message = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            msg["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        return msg

    def to_json(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in self.tool_calls],
            "usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens},
            "cut_off": self.cut_off,
        }

    @staticmethod
    def from_json(data: dict[str, Any], cached: bool) -> ChatReply:
        usage = data.get("usage") or {}
        calls = tuple(
            ToolCall(str(c.get("id", "")), str(c.get("name", "")), str(c.get("arguments", "{}")))
            for c in data.get("tool_calls") or ()
        )
        return ChatReply(
            content=str(data.get("content") or ""),
            tool_calls=calls,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            cached=cached,
            cut_off=bool(data.get("cut_off", False)),
        )


def _request_text(messages: list[Message], tools: list[dict[str, Any]] | None = None) -> str:
    """What a request sends, as text, for estimating its size."""
    parts = [str(m.get("content") or "") + str(m.get("tool_calls") or "") for m in messages]
    return "".join(parts) + (json.dumps(tools) if tools else "")


def _estimate_tokens(text: str) -> int:
    """Rough count (4 characters a token) for endpoints that send no ``usage``."""
    return max(1, len(text) // 4)


class LLMClient:
    """Chat requests with cache, bounded retries, budgets and a trajectory log."""

    def __init__(
        self,
        config: LLMConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        cache: LLMCache | None = None,
        trajectory: Trajectory | None = None,
    ) -> None:
        self.config = config
        self.sleep = sleep
        self.cache = cache if cache is not None else LLMCache(config.cache_dir, config.use_cache)
        self.trajectory = trajectory if trajectory is not None else Trajectory(config.trajectory_path)
        self.tools_supported = config.use_tools
        self.unavailable: str | None = None  # set once; later requests fail fast
        self.calls = 0  # requests that reached the endpoint and got a reply
        self.cache_hits = 0
        self.http_retries = 0
        self.tokens_used = 0
        self.estimating = False  # the last reply carried no usage: sizes are estimated
        self.cost_usd = 0.0
        self._client: openai.OpenAI | None = None
        self._http: Any = None

    @property
    def endpoint(self) -> str:
        return self.config.base_url or "https://api.openai.com/v1"

    def _openai(self) -> openai.OpenAI:
        """Built lazily: a fully cached rerun needs neither a key nor a reachable endpoint."""
        if self._client is None:
            key = self.config.api_key
            if not key and self.config.base_url:
                key = "no-key"  # local servers (vLLM, Ollama) ignore it, the client insists
            if not key:
                self._fail("no API key (set OPENAI_API_KEY or --api-key)")
            self._http = http_client(self.config.timeout_s)
            self._client = openai.OpenAI(
                api_key=key,
                base_url=self.config.base_url,
                timeout=self.config.timeout_s,
                max_retries=0,
                http_client=self._http,
            )
        return self._client

    def _abandon(self) -> None:
        """After a deadline: close the connections (ending the abandoned request) and
        build a fresh client for the next one."""
        http, self._http, self._client = self._http, None, None
        if http is not None:
            with contextlib.suppress(Exception):
                http.close()

    def _fail(self, reason: str) -> None:
        self.unavailable = f"LLM endpoint {self.endpoint} unavailable: {reason}"
        self.trajectory.append("unavailable", reason=self.unavailable)
        raise LLMUnavailable(self.unavailable)

    def _check_budget(self) -> None:
        cfg = self.config
        if self.tokens_used >= cfg.max_tokens_total:
            raise BudgetExceeded(f"token budget spent ({self.tokens_used} of {cfg.max_tokens_total})")
        if cfg.max_cost_usd is not None and self.cost_usd >= cfg.max_cost_usd:
            raise BudgetExceeded(f"cost budget spent (${self.cost_usd:.4f} of ${cfg.max_cost_usd:.4f})")

    def chat(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        *,
        tool_choice: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> ChatReply:
        """One completion. Raises LLMUnavailable, BudgetExceeded or LLMRequestError."""
        if tools and self.tools_supported and self.cache.get(self._no_tools_key()) is not None:
            self.tools_supported = False  # learnt in an earlier run: replay it the same way
        if not self.tools_supported:
            tools, tool_choice = None, None
        key = cache_key(self.config.model, messages, self._key_tools(tools, tool_choice))
        hit = self.cache.get(key)
        if hit is not None:
            self.cache_hits += 1
            reply = ChatReply.from_json(hit, cached=True)
            self.trajectory.append("exchange", **(meta or {}), messages=messages, tools=bool(tools),
                                   reply=reply.to_json(), cached=True)
            return reply
        if self.unavailable:
            raise LLMUnavailable(self.unavailable)
        self._check_budget()
        if self.estimating:  # the endpoint reports no usage: the request's own size counts
            ahead = _estimate_tokens(_request_text(messages, tools))
            if self.tokens_used + ahead > self.config.max_tokens_total:
                raise BudgetExceeded(
                    f"token budget: the next request (~{ahead} tokens, estimated from its size) "
                    f"would pass it ({self.tokens_used} of {self.config.max_tokens_total} spent)")
        try:
            reply = self._request(messages, tools, tool_choice)
        except _ToolsRejected:
            self.tools_supported = False
            self.trajectory.append("event", **(meta or {}), message="endpoint rejected tools; continuing without")
            reply = self._request(messages, None, None)
            self.cache.put(cache_key(self.config.model, messages, None), reply.to_json())
            self.cache.put(self._no_tools_key(), {"tools_rejected": True})
        self.calls += 1
        self.estimating = reply.estimated
        self.tokens_used += reply.tokens
        self.cost_usd += (
            reply.prompt_tokens * self.config.usd_per_mtok_prompt
            + reply.completion_tokens * self.config.usd_per_mtok_completion
        ) / 1e6
        self.cache.put(key, reply.to_json())
        self.trajectory.append("exchange", **(meta or {}), messages=messages, tools=bool(tools),
                               reply=reply.to_json(), cached=False)
        return reply

    def _no_tools_key(self) -> str:
        """Where the cache remembers that the model's endpoint rejects tool calling (keyed like
        the replies: on the model, not the URL)."""
        return cache_key(self.config.model, [{"role": "k2l", "content": "tools rejected"}], None)

    @staticmethod
    def _key_tools(tools: list[dict[str, Any]] | None, tool_choice: str | None) -> Any:
        return tools if tool_choice is None else {"tools": tools, "tool_choice": tool_choice}

    def _request(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, tool_choice: str | None
    ) -> ChatReply:
        self._openai()  # no key: unavailable before any request
        kwargs: dict[str, Any] = {"model": self.config.model, "messages": messages}
        if tools:
            kwargs["tools"] = tools
            if tool_choice:
                kwargs["tool_choice"] = tool_choice
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                create = partial(self._openai().chat.completions.create, **kwargs)
                response = call_with_deadline(create, TOTAL_FACTOR * self.config.timeout_s,
                                              self._abandon)
                return self._to_reply(response, messages)
            except Deadline as exc:
                reason = str(exc)
            except openai.APITimeoutError:
                reason = f"no answer within {self.config.timeout_s:g} s"
            except (openai.APIResponseValidationError, ValueError, _NotACompletion) as exc:
                self._fail(f"the endpoint answered with a body that is not a chat completion "
                           f"({_short(exc)})")
                raise  # unreachable: _fail raises
            except openai.APIConnectionError as exc:
                reason = f"cannot connect ({exc.__cause__ or exc})"
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status == 429 or status >= 500:
                    reason = f"HTTP {status}: {exc.message}"
                    retry_after = _retry_after(exc)
                elif 300 <= status < 400:
                    where = _short(exc.response.headers.get("location", "?"))
                    self._fail(f"the endpoint redirects (HTTP {status}) to {where}: not "
                               "followed, the key is sent to the configured URL only")
                    raise
                elif status in (401, 403):
                    self._fail(f"credentials refused (HTTP {status}: {exc.message})")
                    raise  # unreachable: _fail raises
                elif status == 404:
                    self._fail(f"model {self.config.model!r} or URL not found (HTTP 404: {exc.message})")
                    raise
                elif status == 400 and tools and "tool" in str(exc.message).lower():
                    raise _ToolsRejected() from exc
                else:
                    raise LLMRequestError(f"request rejected (HTTP {status}: {exc.message})") from exc
            if attempt >= self.config.http_retries:
                self._fail(f"{reason} (after {attempt + 1} attempts)")
            delay = min(MAX_BACKOFF_S, self.config.backoff_s * 2**attempt)
            if retry_after is not None:
                delay = min(MAX_BACKOFF_S, max(delay, retry_after))
            self.http_retries += 1
            self.trajectory.append("retry", attempt=attempt + 1, reason=reason, sleep_s=delay)
            self.sleep(delay)
            attempt += 1

    @staticmethod
    def _to_reply(response: Any, messages: list[Message]) -> ChatReply:
        try:
            return LLMClient._read_reply(response, messages)
        except (AttributeError, TypeError, IndexError, KeyError, ValueError) as exc:
            raise _NotACompletion(f"{type(response).__name__}: {_short(response)}") from exc

    @staticmethod
    def _read_reply(response: Any, messages: list[Message]) -> ChatReply:
        if not response.choices:  # every completion has one; `{}` or `{"error":..}` has not
            raise ValueError("no choices")
        choice = response.choices[0]
        message = choice.message
        cut_off = getattr(choice, "finish_reason", None) == "length"
        content = (message.content or "") if message is not None else ""
        calls = tuple(
            ToolCall(c.id, c.function.name, c.function.arguments or "{}")
            for c in (getattr(message, "tool_calls", None) or ())
            if getattr(c, "function", None) is not None
        )
        usage = response.usage
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0) if usage is not None else 0
        completion = int(getattr(usage, "completion_tokens", 0) or 0) if usage is not None else 0
        estimated = prompt <= 0 and completion <= 0  # no usage, or zeros (some local servers)
        if estimated:
            prompt = _estimate_tokens(_request_text(messages))
            completion = _estimate_tokens(content + "".join(c.arguments for c in calls))
        return ChatReply(content, calls, prompt, completion, cached=False, estimated=estimated,
                         cut_off=cut_off)


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """Seconds from a ``Retry-After`` header; None unless it is plain ASCII digits."""
    try:
        value = str(exc.response.headers.get("retry-after") or "").strip()
    except AttributeError:
        return None
    return float(value) if _SECONDS.fullmatch(value) else None


def _short(value: object) -> str:
    """At most 200 characters of anything an endpoint sent, for a message or a log."""
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "..."
