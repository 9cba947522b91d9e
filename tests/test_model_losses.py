"""Losses a model computes itself: ``compile(loss=lambda y_true, y_pred: y_pred)`` (Keras 2's
CTC idiom: the output IS the per-sample loss, which Keras averages like any loss) and
``compile()`` without a loss whose layers call ``add_loss`` (the terms are the loss, and the
step reads no targets). Each converted script runs without TensorFlow, and its step's loss
equals Keras's ``evaluate`` on the same weights."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.weights import port_weights
from tests.without_tf import run_without_tf

keras = pytest.importorskip("keras")

DATA = """\
x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
t = np.random.default_rng(1).normal(size=(16, 2)).astype("float32")
features = keras.Input(shape=(4,), name="features")
target = keras.Input(shape=(2,), name="target")
pred = layers.Dense(2)(features)
"""

OUTPUT_IS_LOSS = textwrap.dedent("""\
    import numpy as np
    import keras
    from keras import layers


    def squared_error(args):
        pred, target = args
        return keras.ops.sum(keras.ops.square(pred - target), axis=-1, keepdims=True)


    """) + DATA + textwrap.dedent("""\
    loss_out = layers.Lambda(squared_error, output_shape=(1,), name="loss_out")([pred, target])
    model = keras.Model(inputs=[features, target], outputs=loss_out)
    model.compile(loss={"loss_out": lambda y_true, y_pred: y_pred}, optimizer="sgd")
    """)

ADDED_ONLY = textwrap.dedent("""\
    import numpy as np
    import keras
    from keras import layers


    class ErrorLayer(layers.Layer):
        def call(self, target, pred):
            self.add_loss(keras.ops.mean(keras.ops.square(pred - target)))
            return pred


    """) + DATA + textwrap.dedent("""\
    out = ErrorLayer()(target, pred)
    model = keras.Model(inputs=[features, target], outputs=out)
    model.compile(optimizer=keras.optimizers.Adam())
    """)

FIT = 'model.fit([x, t]{y}, batch_size=8, epochs=1)\nprint("DONE")\n'


def _converted(src: str) -> tuple[Any, str]:
    res = convert_source(src)
    assert res.error == "" and "TODO(k2l)" not in res.source, res.source
    assert res.keras_deps == [] and res.unmapped == [], res.unmapped
    return res, res.source


@pytest.mark.parametrize("src,y", [(OUTPUT_IS_LOSS, ", np.zeros(len(x))"), (ADDED_ONLY, "")])
def test_model_computed_loss_script_runs_without_tensorflow(tmp_path: Path, src: str,
                                                            y: str) -> None:
    _, code = _converted(src + FIT.format(y=y))
    run = run_without_tf(code, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "DONE" in run.stdout


@pytest.mark.parametrize("src", [OUTPUT_IS_LOSS, ADDED_ONLY])
def test_model_computed_loss_equals_keras(src: str) -> None:
    keras.utils.set_random_seed(0)
    ns: dict[str, Any] = {}
    exec(compile(src, "<keras>", "exec"), ns)
    _, code = _converted(src)
    tns: dict[str, Any] = {}
    exec(compile(code, "<converted>", "exec"), tns)
    port_weights(ns["model"], tns["model"])
    x, t = ns["x"], ns["t"]
    zeros = np.zeros((len(x), 1), "float32")
    expected = ns["model"].evaluate([x, t], zeros, batch_size=len(x), verbose=0)
    expected = expected[0] if isinstance(expected, list) else expected
    batch = [torch.as_tensor(x), torch.as_tensor(t), torch.as_tensor(zeros)]
    with torch.no_grad():
        loss = tns["model"].training_step(batch, 0)
    assert abs(float(loss) - float(expected)) < 1e-5 * max(1.0, abs(float(expected)))
    assert float(loss) > 0.1  # a loss that trains, not a stand-in zero
