"""The LLM stage end to end: the real ``openai`` client against tests/fake_openai.py.

The validator is a fake keyed on the code it is given (so a test decides which reply fails
which check), except in the one integration test that runs the real agent.validate.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from fake_openai import code, delayed, error, free_port, serve, text, tool_call

from agent.llm.client import LLMClient, LLMUnavailable
from agent.llm.config import LLMConfig
from agent.llm.stage import LLMContext, LLMOutcome, run_llm_stage
from agent.llm.tools import ToolBox
from agent.records import CheckResult, Diagnostic, Unmapped

CONVERTED = textwrap.dedent(
    """\
    import keras
    import torch
    from torch import nn


    # TODO(k2l): custom layer Scale is not mapped
    class Scale(keras.layers.Layer):
        def call(self, x):
            return x * keras.ops.exp(self.s)


    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = Scale()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.scale(x)
    """
)

KERAS_SNIPPET = textwrap.dedent(
    """\
    class Scale(keras.layers.Layer):
        def build(self, input_shape):
            self.s = self.add_weight(shape=(), initializer="zeros")

        def call(self, x):
            return x * keras.ops.exp(self.s)
    """
)

UNMAPPED = Unmapped("model.py", 5, "keras.layers.Layer", "custom layer with call()", "Scale", KERAS_SNIPPET)


def scale_code(tag: str = "good") -> str:
    return textwrap.dedent(
        f"""\
        import torch
        from torch import nn


        class Scale(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.s = nn.Parameter(torch.zeros(()))

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return x * torch.exp(self.s)  # {tag}
        """
    )


def line_of(source: str, needle: str) -> int:
    return next(i for i, ln in enumerate(source.splitlines(), 1) if needle in ln)


class FakeValidator:
    """Fails a check at the line holding a marker; passes everything else. Records its input."""

    def __init__(self, failures: dict[str, tuple[str, str, str]] | None = None) -> None:
        self.failures = failures or {}  # marker -> (check, code, message)
        self.seen: list[str] = []

    def __call__(self, source: str) -> Sequence[CheckResult]:
        self.seen.append(source)
        for marker, (check, code_, message) in self.failures.items():
            if marker in source:
                diag = Diagnostic(check, line_of(source, marker), 5, code_, message, "converted.py")
                return (CheckResult("parse", "passed"), CheckResult(check, "failed", message, (diag,)))
        return (CheckResult("parse", "passed"), CheckResult("mypy", "passed"))


def make_client(base_url: str, tmp_path: Path, sleeps: list[float], **overrides: Any) -> LLMClient:
    settings: dict[str, Any] = {
        "base_url": base_url,
        "api_key": "test-key",
        "model": "fake-model",
        "timeout_s": 2.0,
        "http_retries": 2,
        "backoff_s": 0.5,
        "cache_dir": tmp_path,
        "use_cache": False,
        "trajectory_path": tmp_path / "trajectory.jsonl",
    }
    settings.update(overrides)
    return LLMClient(LLMConfig(**settings), sleep=sleeps.append)


def run(
    client: LLMClient,
    validate: Callable[[str], Sequence[CheckResult]],
    source: str = CONVERTED,
    unmapped: Sequence[Unmapped] = (UNMAPPED,),
    lookup: Callable[[str], str | None] | None = None,
    repo_root: Path | None = None,
) -> LLMOutcome:
    return run_llm_stage(
        source,
        unmapped,
        config=client.config,
        validate=validate,
        context=LLMContext(file="model.py", client=client, lookup=lookup, repo_root=repo_root),
    )


def last_user(request: dict[str, Any]) -> str:
    return str([m for m in request["json"]["messages"] if m["role"] == "user"][-1]["content"])


def test_custom_layer_converted_on_first_reply(tmp_path: Path) -> None:
    sleeps: list[float] = []
    validator = FakeValidator()
    entries = {"keras.layers.Layer": "keras.layers.Layer -> torch.nn.Module (call -> forward)"}
    with serve([code(scale_code())]) as fake:
        outcome = run(make_client(fake.base_url, tmp_path, sleeps), validator, lookup=entries.get)
    assert outcome.status == "converted"
    assert outcome.resolved == (UNMAPPED,) and outcome.unresolved == ()
    assert "class Scale(nn.Module)" in outcome.source and "keras" not in outcome.source
    assert "self.scale = Scale()" in outcome.source  # rule-written code untouched
    assert (outcome.stats.calls, outcome.stats.tokens, outcome.stats.retries) == (1, 150, 0)
    assert validator.seen == [outcome.source]  # the whole spliced file was validated
    request = fake.requests[0]["json"]
    assert request["model"] == "fake-model"
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    prompt = request["messages"][1]["content"]
    assert "self.add_weight" in prompt  # the Keras original
    assert "class Net(nn.Module)" in prompt  # the converted code around it
    assert "call -> forward" in prompt  # the table entry
    assert "channels_last" in request["messages"][0]["content"]  # semantics notes
    assert {t["function"]["name"] for t in request["tools"]} == {"run_checks", "lookup_layer", "read_file"}
    lines = (tmp_path / "trajectory.jsonl").read_text().splitlines()
    exchanges = [json.loads(ln) for ln in lines if json.loads(ln)["kind"] == "exchange"]
    assert len(exchanges) == 1 and exchanges[0]["qualname"] == "Scale"
    assert "```python" in exchanges[0]["reply"]["content"]


def test_fails_mypy_then_fast_dev_run_then_fixed_on_third_round(tmp_path: Path) -> None:
    validator = FakeValidator(
        {
            "# v1": ("mypy", "arg-type", 'Argument 1 to "exp" has incompatible type "float"'),
            "# v2": ("fast_dev_run", "RuntimeError", "shape mismatch: [2, 3] vs [3]"),
        }
    )
    script = [code(scale_code("v1")), code(scale_code("v2")), code(scale_code("v3"))]
    with serve(script) as fake:
        outcome = run(make_client(fake.base_url, tmp_path, []), validator)
    assert outcome.status == "converted"
    assert "# v3" in outcome.source
    assert (outcome.stats.calls, outcome.stats.retries) == (3, 2)
    assert len(fake.requests) == 3
    repair1, repair2 = last_user(fake.requests[1]), last_user(fake.requests[2])
    assert "round 1 of 3" in repair1 and "arg-type" in repair1 and 'incompatible type "float"' in repair1
    failing_line = line_of(validator.seen[0], "# v1")
    assert f">>{failing_line:5d} | " in repair1  # the failing line, marked as the model's
    assert "round 2 of 3" in repair2 and "shape mismatch" in repair2
    # the conversation carries the previous replies
    assert [m["role"] for m in fake.requests[2]["json"]["messages"]] == [
        "system", "user", "assistant", "user", "assistant", "user"
    ]


def test_reply_without_code_block_is_asked_again(tmp_path: Path) -> None:
    script = [text("You could use nn.Parameter for the scale."), code(scale_code())]
    with serve(script) as fake:
        outcome = run(make_client(fake.base_url, tmp_path, []), FakeValidator())
    assert outcome.status == "converted"
    assert outcome.stats.retries == 1 and outcome.stats.calls == 2
    assert "no ```python code block" in last_user(fake.requests[1])


def test_format_retries_are_bounded_by_their_own_counter(tmp_path: Path) -> None:
    script = [text("no code"), text("still none"), text("nope")]
    with serve(script) as fake:
        outcome = run(make_client(fake.base_url, tmp_path, [], max_format_retries=2), FakeValidator())
    assert len(fake.requests) == 3
    assert outcome.status == "partial" and outcome.source == CONVERTED
    assert any("no usable code after 3 replies" in m for m in outcome.messages)


def test_reply_that_never_passes_stops_after_max_retries_and_keeps_original(tmp_path: Path) -> None:
    validator = FakeValidator({"return x * torch.exp": ("mypy", "misc", "always wrong")})
    with serve([code(scale_code(f"try {i}")) for i in range(10)]) as fake:
        outcome = run(make_client(fake.base_url, tmp_path, [], max_retries=3), validator)
    assert len(fake.requests) == 4  # the first answer plus 3 repair rounds
    assert outcome.status == "partial"
    assert outcome.source == CONVERTED  # the Keras original stays visible, TODO included
    assert outcome.unresolved == (UNMAPPED,) and outcome.resolved == ()
    assert outcome.stats.retries == 3
    assert any("after 3 repair rounds" in m and "always wrong" in m for m in outcome.messages)


def test_token_budget_stops_the_loop(tmp_path: Path) -> None:
    validator = FakeValidator({"return x * torch.exp": ("mypy", "misc", "always wrong")})
    with serve([code(scale_code(f"try {i}")) for i in range(10)]) as fake:
        client = make_client(fake.base_url, tmp_path, [], max_retries=10, max_tokens_total=300)
        outcome = run(client, validator)
    assert len(fake.requests) == 2  # 150 tokens each: the third request would exceed 300
    assert outcome.status == "partial" and outcome.source == CONVERTED
    assert any("token budget spent (300 of 300)" in m for m in outcome.messages)


def test_rate_limit_then_success_backs_off_and_retries(tmp_path: Path) -> None:
    sleeps: list[float] = []
    with serve([error(429, "slow down", retry_after="1.5"), error(503, "busy"), code(scale_code())]) as fake:
        client = make_client(fake.base_url, tmp_path, sleeps)
        outcome = run(client, FakeValidator())
    assert outcome.status == "converted"
    assert len(fake.requests) == 3
    assert sleeps == [1.5, 1.0]  # Retry-After honoured, then backoff 0.5 * 2**1
    assert client.http_retries == 2 and outcome.stats.calls == 1


def test_timeout_is_retried_then_reported_unavailable(tmp_path: Path) -> None:
    sleeps: list[float] = []
    script = [delayed(code(scale_code()), 1.0), code(scale_code())]
    with serve(script) as fake:
        outcome = run(make_client(fake.base_url, tmp_path, sleeps, timeout_s=0.3), FakeValidator())
    assert outcome.status == "converted" and len(fake.requests) == 2 and sleeps == [0.5]

    with serve([delayed(code(scale_code()), 1.0)] * 2) as fake:
        client = make_client(fake.base_url, tmp_path, [], timeout_s=0.3, http_retries=1)
        with pytest.raises(LLMUnavailable, match=r"no answer within 0.3 s \(after 2 attempts\)"):
            client.chat([{"role": "user", "content": "hi"}])


def test_endpoint_down_is_unavailable_and_the_run_continues_with_rules(tmp_path: Path) -> None:
    sleeps: list[float] = []
    url = f"http://127.0.0.1:{free_port()}/v1"
    client = make_client(url, tmp_path, sleeps)
    with pytest.raises(LLMUnavailable) as info:
        client.chat([{"role": "user", "content": "hi"}])
    message = str(info.value)
    assert url in message and "cannot connect" in message and "after 3 attempts" in message
    assert len(sleeps) == 2

    outcome = run(client, FakeValidator())  # same client: fails fast, no new attempts
    assert len(sleeps) == 2
    assert outcome.llm_unavailable and outcome.status == "partial"
    assert outcome.source == CONVERTED and outcome.unresolved == (UNMAPPED,)
    assert any("continuing with rules only" in m and url in m for m in outcome.messages)


def test_cached_rerun_makes_no_request_and_no_cache_bypasses(tmp_path: Path) -> None:
    with serve([code(scale_code())]) as fake:
        first = run(make_client(fake.base_url, tmp_path, [], use_cache=True), FakeValidator())
    assert first.stats.calls == 1 and first.stats.cache_hits == 0
    assert list((tmp_path / ".k2l-cache" / "llm").rglob("*.json"))

    with serve([]) as fake:
        second = run(make_client(fake.base_url, tmp_path, [], use_cache=True), FakeValidator())
    assert fake.requests == []
    assert second.source == first.source and second.status == "converted"
    assert (second.stats.calls, second.stats.tokens, second.stats.cache_hits) == (0, 0, 1)

    with serve([code(scale_code())]) as fake:
        third = run(make_client(fake.base_url, tmp_path, [], use_cache=False), FakeValidator())
    assert len(fake.requests) == 1 and third.stats.cache_hits == 0


def test_tool_calls_are_executed_and_answered(tmp_path: Path) -> None:
    validator = FakeValidator({"# draft": ("mypy", "name-defined", 'Name "tf" is not defined')})
    entries = {"keras.layers.Dense": "keras.layers.Dense -> torch.nn.Linear(in, units)"}
    script = [
        tool_call("run_checks", {"code": scale_code("draft")}, call_id="call_a"),
        tool_call("lookup_layer", {"keras_name": "keras.layers.Dense"}, call_id="call_b"),
        code(scale_code()),
    ]
    with serve(script) as fake:
        outcome = run(make_client(fake.base_url, tmp_path, []), validator, lookup=entries.get)
    assert outcome.status == "converted" and "# good" in outcome.source
    assert outcome.stats.calls == 3
    second = fake.requests[1]["json"]["messages"]
    assert second[-2]["role"] == "assistant" and second[-2]["tool_calls"][0]["id"] == "call_a"
    assert second[-1]["role"] == "tool" and second[-1]["tool_call_id"] == "call_a"
    checks = json.loads(second[-1]["content"])
    assert checks["passed"] is False
    assert checks["diagnostics"][0]["code"] == "name-defined" and checks["diagnostics"][0]["in_your_code"]
    third = fake.requests[2]["json"]["messages"]
    assert third[-1] == {"role": "tool", "tool_call_id": "call_b", "content": entries["keras.layers.Dense"]}
    assert "# draft" in validator.seen[0] and "# good" in validator.seen[-1]


def test_endpoint_without_tools_is_retried_once_without_them(tmp_path: Path) -> None:
    script = [error(400, "This model does not support tools"), code(scale_code())]
    with serve(script) as fake:
        client = make_client(fake.base_url, tmp_path, [])
        outcome = run(client, FakeValidator())
    assert outcome.status == "converted"
    assert "tools" in fake.requests[0]["json"] and "tools" not in fake.requests[1]["json"]
    assert client.tools_supported is False  # remembered for the rest of the run


def test_failure_in_rule_written_code_is_a_rule_bug(tmp_path: Path) -> None:
    validator = FakeValidator({"self.scale = Scale()": ("fast_dev_run", "TypeError", "bad call")})
    with serve([code(scale_code()), code(scale_code())]) as fake:
        outcome = run(make_client(fake.base_url, tmp_path, []), validator)
    assert len(fake.requests) == 1  # no repair round for code the LLM did not write
    assert outcome.status == "partial" and outcome.source == CONVERTED
    assert any("rule bug" in m and "bad call" in m for m in outcome.messages)


def test_failure_in_a_piece_still_pending_does_not_block(tmp_path: Path) -> None:
    source = CONVERTED + textwrap.dedent(
        """\


        # TODO(k2l): custom layer Gate is not mapped
        class Gate(keras.layers.Layer):
            def call(self, x):
                return keras.ops.sigmoid(x)  # still keras
        """
    )
    gate = Unmapped("model.py", 20, "keras.layers.Layer", "custom layer", "Gate", "class Gate: ...")
    gate_code = "import torch\nfrom torch import nn\n\n\nclass Gate(nn.Module):\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        return torch.sigmoid(x)\n"
    validator = FakeValidator({"# still keras": ("mypy", "attr-defined", "keras has no ops")})
    with serve([code(scale_code()), code(gate_code)]) as fake:
        outcome = run(make_client(fake.base_url, tmp_path, []), validator, source, (UNMAPPED, gate))
    assert outcome.status == "converted" and len(fake.requests) == 2
    assert "class Gate(nn.Module)" in outcome.source and "keras" not in outcome.source


def test_read_file_tool_stays_inside_the_repository(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "blocks.py").write_text("X = 1\n")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    tools = ToolBox(lambda c: "{}", None, root)
    assert tools.call("read_file", json.dumps({"path": "pkg/blocks.py"})) == "X = 1\n"
    assert "outside the project root" in tools.call("read_file", json.dumps({"path": "../secret.txt"}))
    assert "outside the project root" in tools.call("read_file", json.dumps({"path": "link.txt"}))
    assert "relative" in tools.call("read_file", json.dumps({"path": str(tmp_path / "secret.txt")}))
    assert "no such file" in tools.call("read_file", json.dumps({"path": "missing.py"}))
    assert "not valid JSON" in tools.call("read_file", "{oops")
    assert "no table entry" in ToolBox(lambda c: "", lambda n: None, None).call(
        "lookup_layer", '{"keras_name": "keras.layers.Foo"}'
    )


def test_with_the_real_validator(tmp_path: Path) -> None:
    """One round through agent.validate: ruff finds the model's undefined name, repair fixes it."""
    from agent.validate import validate_source

    def validate(source: str) -> Sequence[CheckResult]:
        return validate_source(source, checks=("parse", "ruff"))

    broken = scale_code().replace("torch.exp(self.s)", "tf.exp(self.s)")
    with serve([code(broken), code(scale_code())]) as fake:
        outcome = run(make_client(fake.base_url, tmp_path, []), validate)
    assert outcome.status == "converted", outcome.messages
    assert outcome.stats.retries == 1
    repair = last_user(fake.requests[1])
    assert "F821" in repair and "`tf`" in repair
    assert all(c.status == "passed" for c in validate(outcome.source))


def test_cost_budget_stops_after_the_spend(tmp_path: Path) -> None:
    validator = FakeValidator({"return x * torch.exp": ("mypy", "misc", "always wrong")})
    with serve([code(scale_code(f"try {i}")) for i in range(5)]) as fake:
        # 100 prompt + 50 completion tokens at $10 / $20 per Mtok = $0.002 a call
        client = make_client(fake.base_url, tmp_path, [], usd_per_mtok_prompt=10.0,
                             usd_per_mtok_completion=20.0, max_cost_usd=0.003)
        outcome = run(client, validator)
    assert len(fake.requests) == 2 and client.cost_usd == pytest.approx(0.004)
    assert outcome.status == "partial" and any("cost budget spent" in m for m in outcome.messages)


@pytest.mark.parametrize(("status", "why"), [(401, "credentials refused"), (404, "not found")])
def test_refused_credentials_or_unknown_model_is_unavailable_without_retry(
    tmp_path: Path, status: int, why: str
) -> None:
    sleeps: list[float] = []
    with serve([error(status, "nope")]) as fake:
        client = make_client(fake.base_url, tmp_path, sleeps)
        with pytest.raises(LLMUnavailable, match=why):
            client.chat([{"role": "user", "content": "hi"}])
    assert len(fake.requests) == 1 and sleeps == []


def test_missing_api_key_is_unavailable_but_cache_still_serves(tmp_path: Path) -> None:
    hello = [{"role": "user", "content": "hi"}]
    with serve([text("hello")]) as fake:
        make_client(fake.base_url, tmp_path, [], use_cache=True).chat(hello)
    offline = LLMClient(LLMConfig(model="fake-model", api_key=None, base_url=None, cache_dir=tmp_path))
    reply = offline.chat(hello)
    assert reply.cached and reply.content == "hello"
    with pytest.raises(LLMUnavailable, match="no API key"):
        offline.chat([{"role": "user", "content": "something new"}])
