"""``compile(optimizer=optimizer)`` where ``optimizer`` is a builder's parameter holding a
Keras name (``def create_network(..., optimizer="adam")``, called with ``"sgd"``): the class
takes the name and ``configure_optimizers`` builds Keras's optimizer of that name, Keras's
defaults written out. Its steps equal Keras's optimizer of that name; the script runs without
TensorFlow."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.rules.training.optimizers import OPTIMIZERS
from tests.without_tf import run_without_tf

keras = pytest.importorskip("keras")

BUILDER = textwrap.dedent("""\
    import numpy as np
    import keras
    from keras import layers


    def build(units=2, optimizer="adam"):
        model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(units)])
        model.compile(optimizer=optimizer, loss="mse")
        return model
    """)


def _converted(src: str) -> Any:
    res = convert_source(src)
    assert res.error == "" and "TODO(k2l)" not in res.source, res.source
    assert res.unmapped == [], res.unmapped
    ns: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), ns)
    return res, ns


@pytest.mark.parametrize("name", [s for spec in OPTIMIZERS for s in spec.strings]
                         + ["RMSprop", "SGD"])
def test_optimizer_named_by_a_parameter_steps_like_keras(name: str) -> None:
    res, ns = _converted(BUILDER)
    assert any("named by the parameter optimizer" in w.message for w in res.warnings)
    keras.utils.set_random_seed(0)
    kmodel = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    kmodel.compile(optimizer=name, loss="mse")
    tmodel = ns["build"](optimizer=name)
    dense = tmodel.layers[0]
    kvars = kmodel.trainable_variables
    with torch.no_grad():
        dense.weight.copy_(torch.as_tensor(np.asarray(kvars[0].numpy()).T.copy()))
        dense.bias.copy_(torch.as_tensor(np.asarray(kvars[1].numpy())))
    optimizer = tmodel.configure_optimizers()
    rng = np.random.default_rng(3)
    for _ in range(3):
        grads = [rng.normal(size=tuple(v.shape)).astype("float32") for v in kvars]
        kmodel.optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads],
                                             kvars, strict=True))
        optimizer.zero_grad()
        dense.weight.grad = torch.as_tensor(grads[0].T.copy())
        dense.bias.grad = torch.as_tensor(grads[1])
        optimizer.step()
    np.testing.assert_allclose(dense.weight.detach().numpy(),
                               np.asarray(kvars[0].numpy()).T, atol=2e-5)
    np.testing.assert_allclose(dense.bias.detach().numpy(), np.asarray(kvars[1].numpy()),
                               atol=2e-5)


def test_optimizer_parameter_script_runs_without_tensorflow(tmp_path: Path) -> None:
    src = BUILDER + textwrap.dedent("""\

        x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
        config = {"units": 2, "optimizer": "sgd"}
        model = build(**config)
        model.fit(x, x[:, :2], batch_size=8, epochs=1)
        other = build(2, "rmsprop")
        other.fit(x, x[:, :2], batch_size=8, epochs=1)
        print("DONE")
        """)
    res = convert_source(src)
    assert "TODO(k2l)" not in res.source and res.keras_deps == [] and res.unmapped == []
    run = run_without_tf(res.source, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "DONE" in run.stdout
