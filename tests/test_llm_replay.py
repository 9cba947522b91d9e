"""The LLM stage on replies written the way real models answer (tests/llm_replay/).

Each case runs the rules on a Keras script, then the LLM stage against the replay endpoint
through the real ``openai`` client, with the real rules run again after each accepted piece
and ruff as the check. It asserts the final file (``expected/<case>.py``, read and checked
by hand: torch only, the piece's meaning kept), the number of requests and re-asks, and the
cache: a rerun sends no request and writes the same file; ``use_cache=False`` asks again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from fake_openai import serve
from replay_openai import ROOT, Case, load_cases, responder

from agent.llm.client import LLMClient
from agent.llm.config import LLMConfig
from agent.llm.stage import LLMContext, LLMOutcome, run_llm_stage
from agent.records import CheckResult, Unmapped
from agent.rules.convert import convert_source
from agent.validate import validate_source

CASES = load_cases()
UPDATE = os.environ.get("K2L_UPDATE_REPLAY") == "1"  # rewrite expected/ (then review the diff)


def _rules(source_name: str, text: str) -> tuple[str, Sequence[Unmapped]] | None:
    again = convert_source(text, source_name)
    if again.error:
        return None
    return (again.source if again.changed else text), again.unmapped


def _run(case: Case, base_url: str, cache: Path, use_cache: bool = True) -> tuple[str, LLMOutcome]:
    rules = convert_source(case.keras_source, case.source)
    config = LLMConfig(base_url=base_url, api_key="test", model="replay", timeout_s=10.0,
                       http_retries=0, cache_dir=cache, use_cache=use_cache)

    def check(code: str) -> Sequence[CheckResult]:
        return validate_source(code, case.source, checks=("parse", "ruff"))

    context = LLMContext(file=case.source, module_name=case.source, client=LLMClient(config),
                         rules=lambda text: _rules(case.source, text))
    outcome = run_llm_stage(rules.source, rules.unmapped, config=config, validate=check,
                            context=context)
    return rules.source, outcome


def test_the_corpus_covers_enough_styles_and_pieces() -> None:
    assert len(CASES) >= 12
    pieces = {r.piece for c in CASES for r in c.replies}
    assert len(pieces) >= 3, pieces
    assert all((ROOT / "expected" / f"{c.name}.py").exists() or UPDATE for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_reply_style(case: Case, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with serve(responder=responder({case.source: case})) as fake:
        rules_only, outcome = _run(case, fake.base_url, cache)
        assert len(fake.requests) == case.requests, [m for m in outcome.messages]
        last = fake.requests[-1]["json"]["messages"][-1]
    if case.told:
        assert last["role"] == "user" and case.told in last["content"], last
    if UPDATE:
        (ROOT / "expected" / f"{case.name}.py").write_text(outcome.source, encoding="utf-8")
    assert outcome.source == case.expected
    assert outcome.status == case.status, outcome.messages
    assert outcome.stats.retries == case.retries
    if case.note:
        assert any(case.note in m for m in outcome.messages), outcome.messages
    if case.status == "converted":
        assert "keras" not in outcome.source and "tensorflow" not in outcome.source
        assert "TODO(k2l)" not in outcome.source
    else:  # never worse than the rules alone
        assert outcome.source == rules_only
    # a rerun replays every exchange from the cache: no request, the same file
    with serve(responder=responder({})) as fake:
        _, again = _run(case, fake.base_url, cache)
        assert fake.requests == []
    assert again.source == outcome.source
    assert again.stats.calls == 0 and again.stats.cache_hits >= outcome.stats.calls
    # --no-cache asks the endpoint again
    with serve(responder=responder({case.source: case})) as fake:
        _, fresh = _run(case, fake.base_url, cache, use_cache=False)
        assert len(fake.requests) == case.requests
    assert fresh.source == outcome.source


def test_eval_llm_against_the_replay_endpoint_reports_pass_at_k(tmp_path: Path) -> None:
    """The `eval --llm` command line, unchanged, against the replay endpoint: a case accepted
    on the first answer counts for pass@1, one that needed a re-ask only for pass@k, one whose
    answers are never usable for neither. The expected figures come from the cases' own
    records (status, re-asks), which test_reply_style checks run by run. The cache lives in
    OUT, not in OUT/converted (which each run rebuilds), so a rerun replays it (the replay
    of the cache itself is test_reply_style's)."""
    from replay_openai import write_cases
    from typer.testing import CliRunner

    from cli import app

    names = ("rm_class_without_imports", "rm_renamed_class", "ts_never_usable")
    chosen = [c for c in CASES if c.name in names]
    assert len(chosen) == len(names)
    first = [c for c in chosen if c.status == "converted" and c.retries == 0]
    later = [c for c in chosen if c.status == "converted" and c.retries > 0]
    assert first and later and len(first) + len(later) < len(chosen)  # every outcome once
    pass1 = len(first) / len(chosen)
    passk = (len(first) + len(later)) / len(chosen)
    table = write_cases(tmp_path / "cases", chosen)
    out = tmp_path / "eval"

    def run_eval(base_url: str) -> dict[str, Any]:
        result = CliRunner().invoke(app, ["eval", str(tmp_path / "cases"), "--out", str(out),
                                          "--llm", "--base-url", base_url, "--model", "replay",
                                          "--api-key", "none"])
        assert result.exit_code == 0, result.output
        assert f"LLM: pass@1 {pass1:.0%} pass@k {passk:.0%}" in result.output, result.output
        return dict(json.loads((out / "results.json").read_text()))

    with serve(responder=responder(table)) as fake:
        doc = run_eval(fake.base_url)
        assert len(fake.requests) == sum(c.requests for c in chosen)
    llm = doc["llm"]
    assert llm["pass@1"] == round(pass1, 4) and llm["pass@k"] == round(passk, 4)
    assert llm["calls"] == sum(c.requests for c in chosen)
    # each case's success is the status its record gives (every check passed or excused)
    success = {c["path"]: c["success"] for c in doc["cases"]}
    assert success == {f"{c.name}.py": c.status == "converted" for c in chosen}, doc["cases"]
    assert any((out / ".k2l-cache" / "llm").rglob("*.json"))
    assert not (out / "converted" / ".k2l-cache").exists()
