"""Deeply nested source: long chained expressions and nested brackets are one report line
(or convert), never an internal error, never minutes of work."""

from __future__ import annotations

import json
from pathlib import Path

from adversarial.robust_harness import MODEL, k2l
from agent.rules.convert import convert_source
from agent.rules.deep_stack import DEEPEST

HEAD = "import tensorflow as tf\nx = tf.constant(1.0)\n"


def _chain(terms: int, term: str = "tf.abs(x)") -> str:
    return HEAD + "y = " + " + ".join([term] * terms) + "\n"


def test_a_chain_deeper_than_the_default_recursion_limit_converts() -> None:
    # 600 links: Python's default limit (1000 frames) stopped the rules at about 300
    done = convert_source(_chain(600), "chain.py")
    assert not done.error
    assert "tensorflow" not in done.source and "tf." not in done.source
    assert done.source.count("torch.abs(x)") == 600
    compile(done.source, "chain.py", "exec")


def test_a_chain_deeper_than_the_rules_follow_is_one_plain_line() -> None:
    done = convert_source(_chain(DEEPEST + 200), "chain.py")
    assert done.error.startswith("line 3: an expression nested ")
    assert f"(the rules follow {DEEPEST}): left as written" in done.error
    assert done.source == _chain(DEEPEST + 200)  # the user's code, untouched


def test_a_chain_python_cannot_compile_is_one_plain_line() -> None:
    source = HEAD + "y = " + "+".join(["1"] * 20_000) + "\n"
    done = convert_source(source, "huge.py")
    assert done.error.startswith("nested more deeply than Python compiles")
    assert done.source == source


def test_brackets_python_refuses_are_a_syntax_error_line() -> None:
    source = HEAD + "y = " + "(" * 300 + "x" + ")" * 300 + "\n"
    done = convert_source(source, "brackets.py")
    assert done.error == ("syntax error at line 3: too many nested parentheses "
                          "(Python cannot compile this file)")


def test_migrate_reports_deep_files_without_internal_errors(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "model.py").write_text(MODEL)
    (src / "chain.py").write_text(_chain(500))
    (src / "huge.py").write_text(HEAD + "y = " + "+".join(["1"] * 20_000) + "\n")
    run = k2l("migrate", str(src), "--out", str(out), "--no-llm", "--no-validate",
              timeout=240)
    assert not run.traceback, run.stderr
    files = {f["path"]: f for f in json.loads((out / "report.json").read_text())["files"]}
    assert files["model.py"]["status"] == "converted"
    assert files["chain.py"]["status"] == "converted"
    assert files["huge.py"]["status"] == "failed"
    report = (out / "report.md").read_text()
    assert "internal error" not in report and "RecursionError" not in report
    assert "nested more deeply than Python compiles" in report


def test_depth_is_found_on_one_line_and_across_lines() -> None:
    import ast

    from agent.rules.deep_stack import deepest

    one_line = "y = " + "+".join(["x"] * (DEEPEST + 50)) + "\n"
    across = "def f():\n    return (\n" + "+\n".join(["x"] * (DEEPEST + 50)) + ")\n"
    shallow = "y = " + "+".join(["x"] * (DEEPEST - 50)) + "\n"
    assert deepest(ast.parse(one_line))[0] > DEEPEST
    assert deepest(ast.parse(across))[0] > DEEPEST
    assert deepest(ast.parse(shallow)) == (0, 0)
