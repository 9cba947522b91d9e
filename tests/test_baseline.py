"""Findings already in the original never fail the converted file (issue 11, item 2)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agent.records import CheckResult, Diagnostic
from agent.tools.baseline import MARK, judge, split, unchanged_lines
from agent.validate import validate_files

ORIGINAL = textwrap.dedent('''\
    import os
    import sys
    import keras

    count: int = "three"


    def helper(values):
        unused = len(values)
        return values


    model = keras.Sequential([keras.layers.Dense(2)])
    ''')

CONVERTED = textwrap.dedent('''\
    import os
    import sys
    import torch

    count: int = "three"


    def helper(values):
        unused = len(values)
        return values


    model = torch.nn.Linear(3, 2)
    ''')


def _diag(tool: str, line: int, code: str, message: str) -> Diagnostic:
    return Diagnostic(tool, line, 1, code, message)


def test_unchanged_lines_map_across_inserted_and_removed_lines() -> None:
    lines = unchanged_lines("a\nb\nc\n", "x\na\ny\nc\n")
    assert lines == {2: 1, 4: 3}


def test_split_needs_same_code_same_name_same_place() -> None:
    lines = {1: 1, 2: 2, 5: 3}
    before = [_diag("ruff", 1, "F401", "`os` imported but unused"),
              _diag("ruff", 3, "F841", "Local variable `unused` is assigned to but never used")]
    after = [_diag("ruff", 1, "F401", "`os` imported but unused"),  # the same
             _diag("ruff", 2, "F401", "`sys` imported but unused"),  # another name
             _diag("ruff", 5, "F841", "Local variable `unused` is assigned to but never used"),
             _diag("ruff", 4, "F401", "`os` imported but unused")]  # a changed line
    new, kept = split(after, before, lines)
    assert [d.line for d in kept] == [1, 5]
    assert [d.line for d in new] == [2, 4]


def test_judge_passes_a_check_whose_findings_were_all_there_before() -> None:
    finding = _diag("ruff", 1, "F401", "`os` imported but unused")
    result = CheckResult("ruff", "failed", "1 ruff finding(s): F401", (finding,))
    original = CheckResult("ruff", "failed", "", (finding,))
    judged = judge(result, original, "import os\n", "import os\nimport torch\n")
    assert judged.status == "passed"
    assert "already in the original" in judged.message
    assert judged.diagnostics[0].message.startswith(MARK)
    # without the original's findings nothing is excused
    assert judge(result, None, "import os\n", "import os\n").status == "failed"
    assert judge(result, CheckResult("ruff", "passed"), "import os\n",
                 "import os\n").status == "failed"


@pytest.mark.slow
def test_file_with_preexisting_lint_converts_clean(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "out").mkdir()
    original = tmp_path / "src" / "model.py"
    converted = tmp_path / "out" / "model.py"
    original.write_text(ORIGINAL)
    converted.write_text(CONVERTED)
    results = validate_files([converted], checks=("parse", "ruff", "mypy"),
                             originals={converted: original},
                             mypy_cache_dir=tmp_path / "cache")[converted]
    by_name = {r.name: r for r in results}
    assert by_name["ruff"].status == "passed", by_name["ruff"]
    assert {d.code for d in by_name["ruff"].diagnostics} == {"F401", "F841"}
    assert all(d.message.startswith(MARK) for d in by_name["ruff"].diagnostics)
    assert by_name["mypy"].status == "passed", by_name["mypy"]
    assert [d.code for d in by_name["mypy"].diagnostics] == ["assignment"]
    # the same file without its original: the same findings fail it
    plain = validate_files([converted], checks=("parse", "ruff"))[converted]
    assert plain[1].status == "failed"


@pytest.mark.slow
def test_a_finding_the_conversion_introduced_still_fails(tmp_path: Path) -> None:
    original = tmp_path / "orig.py"
    converted = tmp_path / "conv.py"
    original.write_text(ORIGINAL)
    converted.write_text(CONVERTED.replace("import torch\n", "import torch\nimport numpy\n"))
    results = validate_files([converted], checks=("parse", "ruff"),
                             originals={converted: original})[converted]
    ruff = results[1]
    assert ruff.status == "failed"
    assert "introduced by the conversion: F401" in ruff.message
    assert [d.message for d in ruff.diagnostics if not d.message.startswith(MARK)] == [
        "`numpy` imported but unused"]


NUMPY_SLIP = '''\
import numpy as np
{framework}


def normalised(values):
    out = []
    for v in values:
        out.insert(0, v)
    out = np.array(out, dtype="float32")
    return (out - out.mean()) / (out.std() + 1e-8)
'''


@pytest.mark.slow
def test_a_numpy_typing_slip_of_the_user_is_excused_with_numpy_analysed(
        tmp_path: Path) -> None:
    """The original's run skips Keras and TensorFlow only: with every import skipped,
    ``np.array(...)`` was Any there and the user's own slip failed the conversion."""
    original = tmp_path / "src" / "steps.py"
    converted = tmp_path / "out" / "steps.py"
    original.parent.mkdir()
    converted.parent.mkdir()
    original.write_text(NUMPY_SLIP.format(framework="import keras"))
    converted.write_text(NUMPY_SLIP.format(framework="import torch"))
    results = validate_files([converted], checks=("parse", "mypy"),
                             originals={converted: original},
                             mypy_cache_dir=tmp_path / "cache")[converted]
    mypy = results[1]
    assert mypy.status == "passed", mypy
    assert "assignment" in {d.code for d in mypy.diagnostics}  # found, then excused
    assert all(d.message.startswith(MARK) for d in mypy.diagnostics)
    # a slip the conversion wrote (not in the original) still fails
    converted.write_text(NUMPY_SLIP.format(framework="import torch") + "\nn: int = 'x'\n")
    again = validate_files([converted], checks=("parse", "mypy"),
                           originals={converted: original},
                           mypy_cache_dir=tmp_path / "cache")[converted]
    assert again[1].status == "failed", again[1]
