"""The reference metric of ``k2l-agent eval``: counts follow from the rules in
agent/commands/eval_refs.py (uses of names bound by keras/tf imports), checked by hand."""

from __future__ import annotations

import ast
from pathlib import Path
from textwrap import dedent

import pytest

from agent.commands import eval_refs

SRC = dedent("""\
    import tensorflow as tf
    from tensorflow import keras
    from keras import layers as L

    x = tf.shape(y)
    m = keras.layers.Dense(3)
    d = L.Dropout(0.1)
    n = tf.shape(z)
    """)


def test_counts_and_qualified_names() -> None:
    tree = ast.parse(SRC)
    assert eval_refs.keras_refs(tree) == 4  # tf twice, keras once, L once
    names = eval_refs.qualified_refs(tree)
    assert names == {"tf.shape": 2, "keras.layers.Dense": 1, "keras.layers.Dropout": 1}
    assert eval_refs.imports_banned(tree)


@pytest.mark.slow
def test_directory_scores_and_smoke(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    for root in (src / "a", src / "b", out / "a", out / "b"):
        root.mkdir(parents=True)
    (src / "a" / "one.py").write_text(SRC)
    (out / "a" / "one.py").write_text(dedent("""\
        import pytorch_lightning as pl
        import torch
        from torch import nn


        class Net(pl.LightningModule):
            def __init__(self) -> None:
                super().__init__()
                self.example_input_array = torch.zeros(1, 3)
                self.fc = nn.Linear(3, 2)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.fc(x)
        """))
    (src / "b" / "two.py").write_text("import keras\nm = keras.Sequential()\n")
    (out / "b" / "two.py").write_text("import keras\nm = keras.Sequential()\n")
    rows, left = eval_refs.score_refs(src, out, ["a/one.py", "b/two.py"])
    one, two = rows
    assert (one.refs_before, one.refs_after, one.torch, one.lmodule, one.smoke) == (
        4, 0, True, True, True)
    assert (two.refs_before, two.refs_after, two.torch, two.smoke) == (1, 1, False, False)
    dirs = eval_refs.by_directory(rows)
    assert dirs["all"]["refs_converted_pct"] == 80.0  # 4 of 5 references gone
    assert dirs["a"]["smoke"] == 1 and dirs["b"]["no_keras_import"] == 0
    assert left == {"keras.Sequential": 1}
