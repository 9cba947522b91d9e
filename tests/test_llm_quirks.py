"""Endpoints as they are: no usage in replies, answers that are not chat completions, small
context windows. Each is one report line and the rules' output, never a traceback."""

from __future__ import annotations

from pathlib import Path

from fake_openai import Scripted, code, serve, text
from test_llm import CONVERTED, UNMAPPED, FakeValidator, make_client, run, scale_code

from agent.llm.stage import LLMContext, run_llm_stage


def test_budget_is_enforced_from_sizes_when_the_server_reports_no_usage(tmp_path: Path) -> None:
    validator = FakeValidator({"return x * torch.exp": ("mypy", "misc", "always wrong")})
    replies = [code(scale_code(f"try {i}"), prompt_tokens=0, completion_tokens=0) for i in range(5)]
    with serve(replies) as fake:
        client = make_client(fake.base_url, tmp_path, [], max_retries=5, max_tokens_total=1500)
        outcome = run(client, validator)
        sent = [len(str(r["json"]["messages"])) for r in fake.requests]
    # the replies say 0 tokens; the stage counts ~4 characters a token of what was sent
    assert client.tokens_used >= sum(sent) // 8 > 0
    assert len(fake.requests) < 5
    assert outcome.status == "partial" and outcome.source == CONVERTED
    assert any("estimated from its size" in m for m in outcome.messages), outcome.messages


def test_an_answer_that_is_not_a_chat_completion_is_one_report_line(tmp_path: Path) -> None:
    odd = Scripted(body={"object": "error", "detail": "model is loading"})
    with serve([odd]) as fake:
        client = make_client(fake.base_url, tmp_path, [], max_format_retries=0)
        outcome = run(client, FakeValidator())
    assert outcome.status == "partial" and outcome.source == CONVERTED
    lines = [m for m in outcome.messages if "Scale" in m]
    assert len(lines) == 1 and "left as it was" in lines[0], outcome.messages


def test_small_context_window_sends_the_piece_and_what_it_uses(tmp_path: Path) -> None:
    filler = "".join(f"\n\ndef unrelated_{i}(x: int) -> int:\n    return x + {i}\n" for i in range(300))
    source = CONVERTED.replace("\n\n# TODO(k2l)", f"\nSCALE_FLOOR = 0.5\n{filler}\n\n# TODO(k2l)")
    source = source.replace("keras.ops.exp(self.s)", "keras.ops.exp(self.s) + SCALE_FLOOR")
    with serve([text("no code")]) as fake:
        client = make_client(fake.base_url, tmp_path, [], max_format_retries=0,
                             context_tokens=2048)
        run_llm_stage(source, [UNMAPPED], config=client.config, validate=FakeValidator(),
                      context=LLMContext(file="model.py", client=client))
        prompt = fake.requests[0]["json"]["messages"][1]["content"]
    assert "SCALE_FLOOR = 0.5" in prompt  # a dependency of the piece
    assert "class Net(nn.Module)" in prompt  # its caller
    assert "unrelated_150" not in prompt
    assert len(prompt) // 4 < 2048 // 2
