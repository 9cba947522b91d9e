"""The PR comment's Markdown: golden files, plus its structure as a Markdown parser sees it.

Golden files under tests/golden/ were checked by hand once; regenerate them only on purpose
with K2L_UPDATE_GOLDEN=1 and read the diff before committing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from agent.github.render import COMMENT_LIMIT, MARKER, LinkTarget, render_comment
from agent.records import (
    Change,
    CheckResult,
    Diagnostic,
    FileResult,
    KerasDependency,
    LLMStats,
    Report,
    Unmapped,
    Warning_,
    report_to_json,
)

GOLDEN = Path(__file__).parent / "golden"
SHA = "0123456789abcdef0123456789abcdef01234567"
LINKS = LinkTarget("octo/models", SHA)
BLOB = f"https://github.com/octo/models/blob/{SHA}"
RUN_URL = "https://github.com/octo/models/actions/runs/42"

PASSED = (CheckResult("ruff", "passed"), CheckResult("mypy", "passed"),
          CheckResult("fast_dev_run", "passed"))


def small_diff(path: str, old: str, new: str) -> str:
    return (f"--- a/{path}\n+++ b/{path}\n@@ -1,3 +1,3 @@\n-{old}\n+{new}\n"
            " \n x = 1\n")


def clean_report() -> dict[str, Any]:
    return as_json(Report(source=".", output="k2l-out", llm_enabled=False, files=(
        FileResult("models/mlp.py", "converted", changes=(Change(1, "imports", "keras"),),
                   checks=PASSED,
                   diff=small_diff("models/mlp.py", "import keras", "import torch")),
        FileResult("train.py", "converted", checks=PASSED,
                   diff=small_diff("train.py", "model.fit(x, y)", "trainer.fit(model, dl)")),
        FileResult("utils/io.py", "unchanged"),
    )))


def attention_report() -> dict[str, Any]:
    return as_json(Report(
        source=".", output="k2l-out", llm_enabled=True,
        notes=("Converted with --changed-only origin/main",),
        files=(
            FileResult("models/mlp.py", "converted", checks=PASSED, llm=LLMStats(calls=0),
                       diff=small_diff("models/mlp.py", "import keras", "import torch")),
            FileResult(
                "models/custom_layer.py", "partial",
                unmapped=(Unmapped("models/custom_layer.py", 14, "keras.layers.Layer.build",
                                   "build() with *dynamic* shapes", "Attention.build"),),
                warnings=(Warning_(8, "LazyLinear infers in_features on the first batch"),),
                keras_deps_left=(KerasDependency(3, "keras.datasets.mnist", "data loading"),),
                checks=(CheckResult("ruff", "passed"),
                        CheckResult("mypy", "failed", "1 error", (Diagnostic(
                            "mypy", 21, 9, "attr-defined", 'Module has no attribute "Foo"'),)),
                        CheckResult("fast_dev_run", "not_run")),
                llm=LLMStats(calls=3, tokens=900, retries=2),
                diff=("--- a/models/custom_layer.py\n+++ b/models/custom_layer.py\n"
                      "@@ -1,2 +1,2 @@\n-doc = '```'\n+doc = '```python'\n x = 1\n")),
            FileResult("scripts/export.py", "failed", reason="libcst could not parse the file"),
            FileResult("README_helpers.py", "skipped", reason="no Keras import"),
        )))


def huge_report() -> dict[str, Any]:
    """One file needing attention and 40 converted files with 2,500-character diffs."""
    files = [FileResult("a_first/needs_work.py", "partial",
                        unmapped=(Unmapped("a_first/needs_work.py", 5, "keras.Model.train_step",
                                           "custom training loop", "Net.train_step"),))]
    for i in range(40):
        path = f"pkg/mod_{i:02d}.py"
        body = "".join(f"-x{i}_{j} = keras.layers.Dense({j})\n+x{i}_{j} = torch.nn.LazyLinear({j})\n"
                       for j in range(36))
        files.append(FileResult(path, "converted", checks=PASSED,
                                diff=f"--- a/{path}\n+++ b/{path}\n@@ -1,36 +1,36 @@\n{body}"))
    return as_json(Report(source=".", output="k2l-out", files=tuple(files)))


def as_json(report: Report) -> dict[str, Any]:
    """What pr-comment reads: report_to_json written to disk and read back."""
    data: dict[str, Any] = json.loads(json.dumps(report_to_json(report)))
    return data


def parse(text: str) -> list[Token]:
    return MarkdownIt("commonmark").enable("table").parse(text)


def table_body_rows(tokens: list[Token]) -> int:
    inside, rows = False, 0
    for t in tokens:
        inside = (inside or t.type == "tbody_open") and t.type != "tbody_close"
        rows += inside and t.type == "tr_open"
    return rows


def details_structure(tokens: list[Token]) -> tuple[int, list[str]]:
    """(number of <details> blocks, info strings of fences inside them); asserts balance."""
    depth, opened, fences = 0, 0, []
    for t in tokens:
        if t.type == "html_block":
            depth += t.content.count("<details>")
            opened += t.content.count("<details>")
            depth -= t.content.count("</details>")
            assert depth >= 0, "a </details> closes nothing"
        elif t.type == "fence":
            assert depth == 1, "a fence outside its <details>"
            fences.append(t.info)
    assert depth == 0, "a <details> is never closed"
    return opened, fences


def hrefs(tokens: list[Token]) -> list[str]:
    out = []
    for t in tokens:
        for child in t.children or ():
            if child.type == "link_open":
                out.append(str(child.attrGet("href")))
    return out


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"pr_comment_{name}.md"
    if os.environ.get("K2L_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_clean_report_golden_and_structure() -> None:
    text = render_comment(clean_report(), links=LINKS, full_report=RUN_URL)
    check_golden("clean", text)
    assert text.splitlines()[0] == MARKER
    assert "**2 converted · 0 need attention · 0 failed** — 3 files in all" in text
    tokens = parse(text)
    assert table_body_rows(tokens) == 3
    assert "| `models/mlp.py` | ✅ converted | ruff ✓ mypy ✓ fast\\_dev\\_run ✓ | off |" in text
    assert details_structure(tokens) == (2, ["diff", "diff"])
    assert hrefs(tokens) == []  # nothing needs a human, so nothing to link
    assert "Needs a human" not in text and "Cut to fit" not in text


def test_attention_report_golden_and_structure() -> None:
    text = render_comment(attention_report(), links=LINKS, full_report=RUN_URL)
    check_golden("attention", text)
    assert "**1 converted · 2 need attention · 1 failed** — 4 files in all" in text
    tokens = parse(text)
    assert table_body_rows(tokens) == 4
    # attention first, in report order; then converted; then the rest
    rows = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| `")]
    assert rows == ["| `models/custom_layer.py`", "| `scripts/export.py`",
                    "| `models/mlp.py`", "| `README_helpers.py`"]
    assert "| ruff ✓ mypy ✗ fast\\_dev\\_run – | 3 (2 retries) |" in text
    opened, fences = details_structure(tokens)
    assert (opened, fences) == (2, ["diff", "diff"])
    # the diff holds ``` itself, so its fence must be longer or the block would end early
    assert "````diff\n" in text
    assert hrefs(tokens) == [
        f"{BLOB}/models/custom_layer.py#L14",  # unmapped
        f"{BLOB}/models/custom_layer.py#L8",  # warning
        f"{BLOB}/models/custom_layer.py#L3",  # Keras left on purpose
    ]
    assert "- failed: libcst could not parse the file" in text
    # mypy's location is in the converted file, so it is shown but not linked to the PR head
    assert "`models/custom_layer.py:21:9` `attr-defined`" in text
    assert "build() with \\*dynamic\\* shapes" in text  # user text cannot inject emphasis


def test_huge_report_is_cut_cleanly_with_a_note() -> None:
    report = huge_report()
    uncut = render_comment(report, links=LINKS, full_report=RUN_URL, limit=10**9)
    assert len(uncut) > COMMENT_LIMIT  # the report really is over the limit
    text = render_comment(report, links=LINKS, full_report=RUN_URL)
    check_golden("huge", text)
    assert len(text) <= COMMENT_LIMIT
    tokens = parse(text)
    assert table_body_rows(tokens) == 41  # rows are cut last; here they all fit
    opened, fences = details_structure(tokens)
    assert 0 < opened < 40 and fences == ["diff"] * opened
    kept = [f"pkg/mod_{i:02d}.py" for i in range(opened)]
    dropped = [f"pkg/mod_{i:02d}.py" for i in range(opened, 40)]
    for path in kept:
        assert f"<summary>Diff of <code>{path}</code>" in text
    note = text.rstrip("\n").split("\n\n")[-1]
    assert note.startswith("✂️ **Cut to fit GitHub's 65,536-character comment limit.**")
    assert f"the diffs of `{dropped[0]}`" in note
    assert f"and {len(dropped) - 10} more" in note
    assert RUN_URL in hrefs(tokens)
    assert f"{BLOB}/a_first/needs_work.py#L5" in hrefs(tokens)  # the attention item survived


@pytest.mark.parametrize("limit", [1_500, 3_000, 8_000, 30_000])
def test_any_limit_gives_balanced_markdown(limit: int) -> None:
    text = render_comment(huge_report(), links=LINKS, full_report="k2l-out/report.json",
                          limit=limit)
    assert len(text) <= limit
    assert text.startswith(MARKER + "\n")
    details_structure(parse(text))
    assert "Cut to fit" in text and "`k2l-out/report.json`" in text


def test_single_diff_larger_than_limit_keeps_the_attention_items() -> None:
    report = attention_report()
    report["files"][1]["diff"] = "--- a\n+++ b\n@@ -1 +1 @@\n" + "+y = 1\n" * 20_000
    text = render_comment(report, links=LINKS)
    assert len(text) <= COMMENT_LIMIT
    assert f"{BLOB}/models/custom_layer.py#L14" in hrefs(parse(text))
    assert "the diffs of `models/custom_layer.py`" in text


def test_without_head_sha_locations_are_plain_text() -> None:
    text = render_comment(attention_report(), links=LinkTarget("octo/models", None))
    assert hrefs(parse(text)) == []
    assert "at models/custom\\_layer.py:14 (in `Attention.build`)" in text


def test_bad_input_does_not_crash() -> None:
    assert render_comment({}).startswith(MARKER)
    text = render_comment({"files": [{"status": "weird", "checks": [{}], "unmapped": [{}]}]})
    assert table_body_rows(parse(text)) == 1


def test_no_files_says_so() -> None:
    text = render_comment(report_to_json(Report(source=".", output="o", files=())))
    assert "No Keras code" in text and "<table" not in MarkdownIt().enable("table").render(text)


def test_in_memory_report_renders_like_the_json_file() -> None:
    """report_to_json keeps tuples; report.json read back has lists: same comment."""
    report = Report(source=".", output="o", files=(FileResult(
        "m.py", "partial", checks=PASSED,
        unmapped=(Unmapped("m.py", 2, "keras.X", "why"),), diff=small_diff("m.py", "a", "b")),))
    assert render_comment(report_to_json(report), links=LINKS) == \
        render_comment(as_json(report), links=LINKS)


def test_cut_order_diffs_then_attention_lists_then_rows() -> None:
    report = huge_report()
    # room for the table and the one attention list, not for any 2,500-character diff
    text = render_comment(report, links=LINKS, limit=4_200)
    tokens = parse(text)
    assert table_body_rows(tokens) == 41 and details_structure(tokens) == (0, [])
    assert f"{BLOB}/a_first/needs_work.py#L5" in hrefs(tokens)
    assert "Left out: the diffs of `pkg/mod_00.py`," in text and "and 30 more." in text
    # smaller still: the attention list goes, then table rows from the end
    text = render_comment(report, links=LINKS, limit=3_000)
    tokens = parse(text)
    assert len(text) <= 3_000 and hrefs(tokens) == []
    assert table_body_rows(tokens) == 31  # needs_work.py and mod_00..mod_29
    assert "all but the table row of `a_first/needs_work.py`" in text
    assert "every line about `pkg/mod_30.py`" in text and "`pkg/mod_29.py` |" in text


def test_notebook_locations_name_the_cell_and_link_the_file() -> None:
    """GitHub renders notebooks without line anchors: the link goes to the file, the label
    says ``nb.ipynb:cell N:line``."""
    linked = LINKS.location("nb/train.ipynb", 2, 3)
    assert linked.startswith("[nb/train.ipynb:cell 3:2](")
    assert "#L" not in linked
    assert LinkTarget().location("nb/train.ipynb", 2, 3) == "nb/train.ipynb:cell 3:2"
    assert LINKS.location("train.py", 7).endswith("/train.py#L7)")
