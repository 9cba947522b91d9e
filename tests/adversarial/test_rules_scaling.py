"""Many models in one file: every one converts, with a valid class name each.

Time is measured by eval/bench_scaling.py (a benchmark, not a timed test); this checks the
behaviour the speed fix must keep: one class and one set of training methods per model.
"""

from __future__ import annotations

import ast

from agent.rules.convert import convert_source


def _module(n: int) -> str:
    parts = ["from tensorflow import keras\n"]
    for k in range(n):
        if k % 2:
            parts.append(f"\n\ndef build_{k}():\n    return keras.Sequential([\n"
                         f"        keras.Input(shape=({k % 4 + 2},)),\n"
                         "        keras.layers.Dense(3),\n    ])\n")
        else:
            parts.append(f"\n\nnet_{k} = keras.Sequential([keras.Input(shape=(5,)), "
                         f"keras.layers.Dense({k % 3 + 2})])\n"
                         f"net_{k}.compile(optimizer=\"sgd\", loss=\"mse\")\n")
    return "".join(parts)


def test_every_model_of_many_converts_once() -> None:
    conv = convert_source(_module(60), "many.py")
    assert not conv.error and not conv.unmapped
    assert len(conv.models) == 60 == len(set(conv.models))
    tree = ast.parse(conv.source)
    # the model classes, next to runtime helpers copied once (KerasEpochMean(s))
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and any(
        ast.unparse(b) == "pl.LightningModule" for b in n.bases)]
    assert sorted(c.name for c in classes) == sorted(conv.models)
    helpers = [n.name for n in tree.body if isinstance(n, ast.ClassDef) and n not in classes]
    assert helpers == ["KerasEpochMean", "KerasEpochMeans"], helpers
    assert all(c.name.isidentifier() and not c.name[0].isdigit() for c in classes)
    compiled = [c for c in classes
                if any(isinstance(f, ast.FunctionDef) and f.name == "configure_optimizers"
                       for f in c.body)]
    assert len(compiled) == 30  # compile() spliced into its own class, exactly once each
    assert all(sum(isinstance(f, ast.FunctionDef) and f.name == "configure_optimizers"
                   for f in c.body) == 1 for c in compiled)
    assert "keras" not in conv.source
