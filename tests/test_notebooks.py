"""Notebooks convert like scripts: code cells as one program, cell structure kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from agent.notebooks.convert import convert_notebook
from agent.notebooks.program import build, locate, split

CLI = Path(sys.executable).parent / "k2l-agent"

IMPORTS = """%matplotlib inline
!pip install -q keras
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers"""
MODEL = """# the classifier
model = keras.Sequential([
    keras.Input(shape=(8,)),
    layers.Dense(16, activation="relu"),
    layers.Dense(3),
])"""
TRAIN = """x = np.random.rand(64, 8).astype("float32")
y = np.random.randint(0, 3, 64)
model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
files = !ls
model.fit(x, y, epochs=1, batch_size=16)"""
PLAIN = "print('no framework here')"


def _notebook() -> dict[str, Any]:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Train a classifier\n\nWith *Keras*."),
        nbformat.v4.new_code_cell(IMPORTS),
        nbformat.v4.new_code_cell(MODEL),
        nbformat.v4.new_raw_cell("raw text\n  kept as is"),
        nbformat.v4.new_code_cell(TRAIN),
        nbformat.v4.new_code_cell(PLAIN),
        nbformat.v4.new_code_cell("%%time\nmodel.summary()"),
    ]
    nb.cells[2].metadata["tags"] = ["model"]
    for k in (2, 5):
        nb.cells[k].outputs = [nbformat.v4.new_output("stream", text=f"old output {k}")]
        nb.cells[k].execution_count = k
    return json.loads(nbformat.writes(nb))


def _write(path: Path, nb: dict[str, Any]) -> bytes:
    raw = (json.dumps(nb, indent=1) + "\n").encode()
    path.write_bytes(raw)
    return raw


def test_program_round_trip_keeps_ipython_lines_byte_for_byte() -> None:
    cells = [(0, "%load_ext autoreload\nimport os"),
             (1, "for f in range(2):\n    !echo {f}\n    x = f\nos.getcwd?"),
             (2, "%%bash\necho cell magic"),
             (3, "!pip install \\\n    numpy\ny = 1")]
    program = build(cells)
    compile(program.source, "<program>", "exec")  # every IPython line became Python
    assert "echo cell magic" not in program.source
    assert program.cells == (0, 1, 3)
    back = split(program, program.source)
    assert back == {0: cells[0][1], 1: cells[1][1], 3: cells[3][1]}
    line = program.source.split("\n").index("    x = f") + 1
    assert locate(program.source, line) == (1, 3)


def test_notebook_converts_across_cells_and_keeps_its_structure() -> None:
    nb = _notebook()
    raw = (json.dumps(nb, indent=1) + "\n").encode()
    result = convert_notebook(raw, "train.ipynb")
    assert result.result.status == "converted", result.result
    assert result.text is not None
    new = json.loads(result.text)
    nbformat.validate(new)
    assert len(new["cells"]) == len(nb["cells"])
    assert [c["cell_type"] for c in new["cells"]] == [c["cell_type"] for c in nb["cells"]]
    assert [c["id"] for c in new["cells"]] == [c["id"] for c in nb["cells"]]
    assert new["metadata"] == nb["metadata"]
    for k in (0, 3, 5, 6):  # markdown, raw, a code cell without framework, a cell magic
        assert new["cells"][k] == nb["cells"][k]
    imports = "".join(new["cells"][1]["source"])
    assert "%matplotlib inline\n!pip install -q keras\n" in imports
    assert "keras" not in imports.replace("!pip install -q keras", "")
    model = "".join(new["cells"][2]["source"])
    assert "class " in model and "nn.Linear(8, 16)" in model
    assert new["cells"][2]["metadata"] == {"tags": ["model"]}
    assert new["cells"][2]["outputs"] == [] and new["cells"][2]["execution_count"] is None
    train = "".join(new["cells"][4]["source"])
    assert "files = !ls\n" in train and "pl.Trainer(" in train
    code = "\n".join("".join(c["source"]) for c in new["cells"] if c["cell_type"] == "code")
    framework = ("import keras", "from keras", "import tensorflow", "from tensorflow")
    assert not [line for line in code.splitlines() if line.lstrip().startswith(framework)]
    # report lines name the cell (counted from 1, markdown included) and the line in it
    rules = {(c.rule, c.cell, c.line) for c in result.result.changes}
    assert ("model.Sequential", 3, 2) in rules, rules
    assert any(c.cell == 5 and c.line == 5 for c in result.result.changes), rules
    assert "--- a/train.ipynb:cell 3\n+++ b/train.ipynb:cell 3\n" in result.result.diff


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"cells": [', "invalid JSON"),
    (json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                 "worksheets": [{"cells": []}]}).encode(), "nbformat 3"),
    (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                 "cells": [{"cell_type": "code", "source": "import keras"}]}).encode(),
     "schema"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_broken_notebooks_are_one_report_line(raw: bytes, reason: str) -> None:
    result = convert_notebook(raw, "bad.ipynb")
    assert result.result.status == "skipped"
    assert reason in result.result.reason and "\n" not in result.result.reason
    assert result.text is None


def test_syntax_error_points_at_the_cell() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("x"), nbformat.v4.new_code_cell("import keras"),
                nbformat.v4.new_code_cell("a = 1\nmodel = keras.Sequential([)")]
    result = convert_notebook(nbformat.writes(nb).encode(), "broken.ipynb")
    assert result.result.status == "failed"
    assert "cell 3, line 2" in result.result.reason, result.result.reason


@pytest.mark.slow
def test_migrate_converts_validates_and_reports_a_notebook(tmp_path: Path) -> None:
    src = tmp_path / "proj"
    src.mkdir()
    before = _write(src / "train.ipynb", _notebook())
    (src / "notes.ipynb").write_text("{\"cells\": \"import keras")
    out = tmp_path / "out"
    proc = subprocess.run([str(CLI), "migrate", str(src), "--out", str(out), "--no-llm"],
                          capture_output=True, text=True, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert (src / "train.ipynb").read_bytes() == before
    report = json.loads((out / "report.json").read_text())
    files = {f["path"]: f for f in report["files"]}
    assert files["notes.ipynb"]["status"] == "skipped"
    train = files["train.ipynb"]
    assert train["status"] == "converted", train
    checks = {c["name"]: c["status"] for c in train["checks"]}
    assert checks["parse"] == checks["ruff"] == checks["mypy"] == "passed", train["checks"]
    assert checks["fast_dev_run"] == "passed", train["checks"]
    assert checks["equivalence"] == "passed", train["checks"]
    nbformat.validate(json.loads((out / "train.ipynb").read_text()))
    md = (out / "report.md").read_text()
    assert "| cell 3, line 2 | `model.Sequential` |" in md
    diff = subprocess.run([str(CLI), "migrate", str(src), "--diff"], capture_output=True,
                          text=True, timeout=300)
    assert "--- a/train.ipynb:cell 2\n" in diff.stdout
