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


def test_a_framework_import_cut_down_to_its_used_names_keeps_working() -> None:
    """``from keras.layers import Dense, Conv2D`` with only Conv2D left: the rewritten import
    is read like the others (it once had no line number and the pass crashed)."""
    code = ("from keras.layers import Conv2D, Dense\n\nlayer = Conv2D(4, 3)\n"
            "x = torch.zeros(1)\n")
    out, deps = finalize(code)
    assert "from keras.layers import Conv2D\n" in out
    assert _import_line(out, "import torch") < _first_use(out, "torch")
    assert [d.name for d in deps] == ["keras.layers.Conv2D"]


def test_notebook_style_script_gets_its_imports_in_its_own_block_sorted() -> None:
    """keras.io-style scripts: docstring, prose strings, then the imports. Added imports join
    that block (sorted, standard library first), not a second block above the prose."""
    code = ('"""Title: demo."""\n\n"""\n## Setup\n"""\n\nimport os\nimport tensorflow as tf\n'
            "import numpy as np\n\n"
            "x = torch.zeros(int(os.environ.get('N', '1')))\nlayer = nn.Linear(1, 2)\n")
    out, _ = finalize(code)
    lines = out.splitlines()
    setup = lines.index("## Setup")
    assert lines[setup + 3: setup + 9] == ["import os", "", "import numpy as np", "import torch",
                                           "from torch import nn", ""], out
    assert "tensorflow" not in out
    compile(out, "<out>", "exec")


def test_prose_lines_that_read_like_imports_are_not_import_statements() -> None:
    """A prose string between the docstring and the imports may hold a line starting with
    "from" or "import": added imports never land inside that string."""
    code = ('"""Title: demo."""\n\n"""\nThe data comes\nfrom 15 subjects, and\nimport '
            'matters.\n"""\n\nimport os\nimport tensorflow as tf\n\n'
            "x = torch.zeros(int(os.environ.get('N', '1')))\nm = torchmetrics.MeanMetric()\n")
    out, _ = finalize(code)
    tree = ast.parse(out)
    prose = tree.body[1]
    assert isinstance(prose, ast.Expr) and "torch" not in ast.unparse(prose), out
    imported = {a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    assert {"torch", "torchmetrics", "os"} <= imported, out


def test_a_name_the_script_binds_itself_gets_no_import() -> None:
    """``callbacks = [...]`` is the script's own list (here inside the main guard): importing
    pytorch_lightning's ``callbacks`` module under that name was a shadowed import mypy
    rejects. A name bound only inside a function still gets its import at module level."""
    code = ('import pytorch_lightning as pl\n\n\ndef act(x):\n    F = x\n    return F\n\n\n'
            'if __name__ == "__main__":\n    callbacks = [pl.callbacks.EarlyStopping("val_loss")]\n'
            '    print(len(callbacks), F.relu)\n')
    out, _ = finalize(code)
    assert "from pytorch_lightning import callbacks" not in out
    assert _import_line(out, "import torch.nn.functional as F") < _first_use(out, "F")
