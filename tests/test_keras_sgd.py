"""SGD with momentum under a changing learning rate, against Keras 3 (torch backend).

Keras keeps the rate inside the velocity (``v = momentum v - lr g``); torch's SGD keeps
``v = momentum v + g`` and multiplies by today's rate, so under a schedule the two drift
apart. The converted ``configure_optimizers`` writes ``KerasSGD`` (runtime/optimizers.py);
these tests step it beside Keras's own SGD on the same gradients, show torch's SGD would
not match, and run a converted script with a LearningRateScheduler without TensorFlow.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from tests.without_tf import run_without_tf

os.environ.setdefault("KERAS_BACKEND", "torch")


def _converted(optimizer: str) -> tuple[Any, Any, Any]:
    """(optimizer, LambdaLR scheduler, Linear) of the converted one-Dense model."""
    src = textwrap.dedent(f"""\
        import keras
        from keras import layers

        model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
        model.compile(loss="mse", optimizer={optimizer})
        """)
    res = convert_source(src)
    assert res.error == "" and "TODO(k2l)" not in res.source, res.source
    assert "optimizer = KerasSGD(" in res.source, res.source
    ns: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), ns)
    conf = ns["model"].configure_optimizers()
    return conf["optimizer"], conf["lr_scheduler"]["scheduler"], ns["model"].layers[0]


def _keras_steps(optimizer: Any, weights: list[np.ndarray],
                 grads: list[list[np.ndarray]]) -> list[np.ndarray]:
    keras = pytest.importorskip("keras")
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    layer.set_weights(weights)
    for kernel, bias in grads:
        optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(kernel),
                                       keras.ops.convert_to_tensor(bias)],
                                      layer.trainable_variables, strict=True))
    return [np.asarray(w) for w in layer.get_weights()]


def _torch_steps(opt: Any, scheduler: Any, dense: Any, grads: list[list[np.ndarray]]) -> None:
    for kernel, bias in grads:
        opt.zero_grad()
        dense.weight.grad = torch.as_tensor(kernel.T.copy())
        dense.bias.grad = torch.as_tensor(bias)
        opt.step()
        scheduler.step()


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_under_a_schedule_steps_like_keras(nesterov: bool) -> None:
    keras = pytest.importorskip("keras")
    opt, scheduler, dense = _converted(
        "keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5), "
        f"momentum=0.9, nesterov={nesterov}, weight_decay=0.01)")
    rng = np.random.default_rng(3)
    weights = [dense.weight.detach().numpy().T.copy(), dense.bias.detach().numpy().copy()]
    grads = [[rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=2).astype("float32")]
             for _ in range(8)]
    expected = _keras_steps(keras.optimizers.SGD(
        keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5), momentum=0.9,
        nesterov=nesterov, weight_decay=0.01), weights, grads)
    start = [torch.tensor(w.T.copy()) for w in weights[:1]] + [torch.tensor(weights[1])]
    _torch_steps(opt, scheduler, dense, grads)
    np.testing.assert_allclose(dense.weight.detach().numpy().T, expected[0], atol=1e-5)
    np.testing.assert_allclose(dense.bias.detach().numpy(), expected[1], atol=1e-5)

    # torch's own SGD on the same schedule lands elsewhere: the test can tell them apart
    with torch.no_grad():
        dense.weight.copy_(start[0])
        dense.bias.copy_(start[1])
    plain = torch.optim.SGD(dense.parameters(), lr=0.1, momentum=0.9, nesterov=nesterov)
    _torch_steps(plain, torch.optim.lr_scheduler.LambdaLR(plain, lambda s: 0.5 ** (s / 2)),
                 dense, grads)
    assert np.abs(dense.weight.detach().numpy().T - expected[0]).max() > 1e-2


def test_constant_rate_sgd_still_equals_torch() -> None:
    """Without momentum the rate cannot be stored anywhere: torch's SGD stays."""
    res = convert_source(textwrap.dedent("""\
        import keras
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        model.compile(loss="mse", optimizer=keras.optimizers.SGD(0.1))
        """))
    assert "torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.0" in res.source
    assert "KerasSGD" not in res.source


def test_sgd_momentum_with_a_rate_callback_runs_without_tensorflow(tmp_path: Path) -> None:
    src = textwrap.dedent("""\
        import numpy as np
        from tensorflow import keras
        from tensorflow.keras import layers

        x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
        y = x @ np.ones((3, 2), "float32")
        model = keras.Sequential([layers.Dense(4, activation="relu", input_shape=(3,)),
                                  layers.Dense(2)])
        model.compile(loss="mse", optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
        halve = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
        model.fit(x, y, batch_size=8, epochs=2, callbacks=[halve])
        print("DONE")
        """)
    res = convert_source(src)
    assert res.keras_deps == [] and "TODO(k2l)" not in res.source, res.source
    assert "KerasSGD(self.parameters(), lr=0.05, momentum=0.9" in res.source, res.source
    run = run_without_tf(res.source, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "DONE" in run.stdout
