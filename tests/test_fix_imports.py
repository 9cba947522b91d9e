"""The import pass binds every torch/typing name the generated code reads before it reads it."""

from __future__ import annotations

import ast

from agent.rules.fix_imports import finalize


def _import_line(code: str, statement: str) -> int:
    return next(i for i, line in enumerate(code.splitlines(), 1) if line == statement)


def _first_use(code: str, name: str) -> int:
    return min(n.lineno for n in ast.walk(ast.parse(code))
               if isinstance(n, ast.Name) and n.id == name)


def test_an_import_below_the_first_use_gets_one_at_the_top() -> None:
    code = ("import os\n\ntorch.manual_seed(os.getpid())\n\n\n"
            "def later() -> None:\n    import torch\n\n\nimport torch\n")
    out, _ = finalize(code)
    assert _import_line(out, "import torch") < _first_use(out, "torch")
    compile(out, "<out>", "exec")


def test_any_in_generated_annotations_is_imported_from_typing() -> None:
    out, _ = finalize("class Tracker:\n    def metrics(self) -> list[Any]:\n        return []\n")
    assert _import_line(out, "from typing import Any") < _first_use(out, "Any")


def test_a_top_import_is_not_duplicated() -> None:
    code = "import torch\n\nx = torch.zeros(1)\n"
    out, _ = finalize(code)
    assert out.count("import torch") == 1


def test_an_import_kept_in_part_does_not_break_the_import_fix() -> None:
    """``from keras.layers import Dense, Input`` where only ``Dense`` is still read after
    conversion: the import is rewritten to the names left (no internal error)."""
    from agent.rules.convert import convert_source

    src = ("from keras.layers import Dense, Input\nfrom keras.models import Model\n\n"
           "inputs = Input(shape=(4,))\nmodel = Model(inputs, Dense(2)(inputs))\n"
           "extra = Dense(3)\n")
    result = convert_source(src, "m.py")
    assert not result.error, result.error
    assert "from keras.layers import Dense\n" in result.source
    assert "(pl.LightningModule)" in result.source
