"""Branches between a Sequential's adds that add the same layers with other first weights
(training/branch_adds.py): one class built whole, the branches' weight code after it; Keras's
numbers without TensorFlow. Branches that build different models, or read the half-built
model otherwise, stay as written and reported."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from agent.rules.convert import convert_source
from tests.without_tf import run_without_tf

COPY_THEN_SET = """\
        model.add(layers.Conv2D(3, 3, padding="same", name="c1-deeper"))
        model.get_layer("c1-deeper").set_weights(identity_kernel(w))
"""
KERAS2_WEIGHTS = """\
        model.add(layers.Conv2D(3, 3, padding="same", name="c1-deeper",
                                weights=identity_kernel(w)))
"""

SCRIPT = textwrap.dedent("""
    import numpy as np
    import keras
    from keras import layers

    SHAPE = (6, 6, 3)


    def identity_kernel(w):
        out = np.zeros_like(w)
        for i in range(w.shape[-1]):
            out[1, 1, i, i] = 1.0
        return out, np.zeros(w.shape[-1], dtype="float32")


    def fixed(w):
        return np.cos(np.arange(w.size)).reshape(w.shape).astype("float32")


    def build_deeper(mode):
        model = keras.Sequential()
        model.add(layers.Conv2D(3, 3, input_shape=SHAPE, padding="same", name="c1"))
        if mode == "copy":
            w, _ = model.get_layer("c1").get_weights()
    @BRANCH@    elif mode == "fresh":
            model.add(layers.Conv2D(3, 3, padding="same", name="c1-deeper"))
        else:
            raise ValueError(mode)
        model.add(layers.Flatten(name="flat"))
        model.add(layers.Dense(108, activation="relu", name="mid"))
        if mode == "copy":
            model.add(layers.Dense(108, kernel_initializer="identity", activation="relu",
                                   name="mid-deeper"))
        else:
            model.add(layers.Dense(108, activation="relu", name="mid-deeper"))
        model.add(layers.Dense(2, activation="softmax", name="out"))
        for name in ["c1", "mid", "out"]:
            layer = model.get_layer(name)
            layer.set_weights([fixed(w) for w in layer.get_weights()])
        return model


    x = np.linspace(-1.0, 1.0, 2 * 6 * 6 * 3).reshape(2, 6, 6, 3).astype("float32")
    deeper = build_deeper("copy")
    print("OUT", np.asarray(deeper.predict(x, verbose=0)).round(5).tolist())
    fresh = build_deeper("fresh")
    print("FRESH", len(fresh.get_weights()))
""")


def _script(branch: str) -> str:
    return SCRIPT.replace("@BRANCH@", branch)


def _line(out: str, key: str) -> object:
    found = re.search(rf"^{key} (.*)$", out, re.M)
    assert found, out[-2000:]
    return ast.literal_eval(found.group(1))


@pytest.mark.parametrize("branch", [COPY_THEN_SET, KERAS2_WEIGHTS], ids=["set", "weights"])
def test_branches_become_one_class_and_weight_code(branch: str) -> None:
    res = convert_source(_script(branch))
    assert res.error == "" and "TODO(k2l)" not in res.source and not res.keras_deps, res.source
    code = res.source.split("SHAPE = (6, 6, 3)")[1]
    assert "class Deeper(pl.LightningModule)" in code
    assert "def __init__(self, mode) -> None:" in code  # the initializer's choice
    assert ('initializer_by_name("identity" if mode == "copy" else "glorot_uniform")('
            "\n            self.mid_deeper.weight") in code
    builder = code.split("def build_deeper(mode):")[1].split("\n\n\n")[0]
    assert builder.index("model = Deeper(mode=mode)") < builder.index(
        "w, _ = layer_weights(model.c1)") < builder.index(
        "set_layer_weights(model.c1_deeper, identity_kernel(w))")
    assert "raise ValueError(mode)" in builder and len(re.findall(r"^\s*if mode", builder, re.M)) == 1
    assert any(c.rule == "models.branch_adds" for c in res.changes)


def test_keras_numbers_without_tensorflow(tmp_path: Path) -> None:
    """Keras 3 runs the set_weights form (it has no ``weights=``, Keras 2's spelling of the
    same); both forms, converted, give its outputs."""
    pytest.importorskip("keras")
    original = tmp_path / "original.py"
    original.write_text(_script(COPY_THEN_SET), encoding="utf-8")
    keras_run = subprocess.run([sys.executable, str(original)], capture_output=True, text=True,
                               timeout=300, check=False, cwd=tmp_path,
                               env={**os.environ, "KERAS_BACKEND": "torch"})
    assert keras_run.returncode == 0, keras_run.stderr[-3000:]
    for branch in (COPY_THEN_SET, KERAS2_WEIGHTS):
        res = convert_source(_script(branch), main_guard=True)
        run = run_without_tf(res.source, tmp_path, fast_dev_run=False)
        assert run.returncode == 0, run.stderr[-3000:]
        np.testing.assert_allclose(np.asarray(_line(run.stdout, "OUT")),
                                   np.asarray(_line(keras_run.stdout, "OUT")), atol=2e-5)
        assert _line(run.stdout, "FRESH") == _line(keras_run.stdout, "FRESH")


@pytest.mark.parametrize("branch", [
    # another layer on one path: two models, not one
    COPY_THEN_SET.replace('Conv2D(3, 3, padding="same", name="c1-deeper")',
                          'Conv2D(5, 3, padding="same", name="c1-deeper")'),
    # the half-built model read otherwise than a layer's weights
    "        print(model.output_shape)\n" + COPY_THEN_SET,
], ids=["different_layers", "model_read"])
def test_other_branches_stay_as_written(branch: str) -> None:
    res = convert_source(_script(branch))
    assert not any(c.rule == "models.branch_adds" for c in res.changes)
    assert any("model.add(...) inside a if" in u.reason for u in res.unmapped), res.unmapped
