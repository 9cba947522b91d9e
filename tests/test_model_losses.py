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


KERAS2_GENERATOR = textwrap.dedent("""\
    import numpy as np
    from keras import backend as K
    from keras.layers import Dense, Input, Lambda
    from keras.models import Model
    from keras.optimizers import SGD


    class Batches:
        def __init__(self, n):
            self.n = n
            self.rng = np.random.default_rng(0)

        def next_train(self):
            while True:
                inputs = {"features": self.rng.normal(size=(self.n, 4)).astype("float32"),
                          "target": self.rng.normal(size=(self.n, 2)).astype("float32")}
                outputs = {"error": np.zeros([self.n])}
                yield (inputs, outputs)


    def squared_error(args):
        pred, target = args
        return K.sum(K.square(pred - target), axis=-1, keepdims=True)


    features = Input(name="features", shape=(4,))
    target = Input(name="target", shape=(2,))
    pred = Dense(2)(features)
    error = Lambda(squared_error, output_shape=(1,), name="error")([pred, target])
    model = Model(inputs=[features, target], outputs=error)
    sgd = SGD(lr=0.02, decay=1e-6, momentum=0.9, nesterov=True, clipnorm=5)
    model.compile(loss={"error": lambda y_true, y_pred: y_pred}, optimizer=sgd)
    batches = Batches(8)
    model.fit_generator(generator=batches.next_train(), steps_per_epoch=3, epochs=1)
    print("DONE")
    """)


def test_keras2_output_loss_fed_by_a_method_generator_runs(tmp_path: Path) -> None:
    """Keras 2's whole idiom: a Lambda output that is the loss, ``decay=``/``clipnorm``,
    and ``fit_generator(generator=obj.method())`` yielding dicts keyed by the layers' names
    (any ``x`` of fit_generator is a generator, not an array)."""
    res, code = _converted(KERAS2_GENERATOR)
    assert "DataLoader(KerasBatches(batches.next_train(), steps=3), batch_size=None)" in code
    assert "loss = y_hat.mean()" in code and "1 / (1 + 1e-6 * step)" in code
    run = run_without_tf(code, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "DONE" in run.stdout
