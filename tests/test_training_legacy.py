"""Keras 2 training forms real scripts still use, against the Keras that defined them.

``SGD(lr=0.1, decay=1e-2)``: Keras 2's optimizers scale every update by
``1 / (1 + decay * iterations)``; the converted ``configure_optimizers`` steps a LambdaLR
per batch with that factor. The numbers come from tf_keras's legacy optimizers, run in the
TensorFlow interpreter (``K2L_TEST_TF_PYTHON`` / ``K2L_TF_PYTHON``, else skipped); the
converted script also runs end to end without TensorFlow.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.tools.tf_original import tf_python
from tests.without_tf import run_without_tf

# tf_keras's legacy optimizer applies fixed gradients to a Dense(2) on 3 features
LEGACY = textwrap.dedent('''\
    import json, sys
    import numpy as np
    import tf_keras

    spec = json.loads(sys.argv[1])
    layer = tf_keras.layers.Dense(2)
    layer.build((None, 3))
    layer.set_weights([np.asarray(w, "float32") for w in spec["weights"]])
    opt = getattr(tf_keras.optimizers.legacy, spec["optimizer"])(**spec["kwargs"])
    for kernel, bias in spec["grads"]:
        grads = [np.asarray(kernel, "float32"), np.asarray(bias, "float32")]
        opt.apply_gradients(zip(grads, layer.trainable_variables))
    print(json.dumps([w.tolist() for w in layer.get_weights()]))
    ''')


def _legacy_steps(tmp_path: Path, optimizer: str, kwargs: dict[str, Any],
                  weights: list[np.ndarray], grads: list[list[np.ndarray]]) -> list[np.ndarray]:
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0]
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    script = tmp_path / "legacy.py"
    script.write_text(LEGACY, encoding="utf-8")
    spec = json.dumps({"optimizer": optimizer, "kwargs": kwargs,
                       "weights": [w.tolist() for w in weights],
                       "grads": [[g.tolist() for g in step] for step in grads]})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_USE_LEGACY_KERAS": "1"}
    done = subprocess.run([python, str(script), spec], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    if done.returncode != 0 and "No module named 'tf_keras'" in done.stderr:
        pytest.skip("tf_keras is not installed next to TensorFlow")
    assert done.returncode == 0, done.stderr[-3000:]
    return [np.asarray(w, dtype="float32") for w in json.loads(done.stdout.splitlines()[-1])]


def _converted(optimizer: str) -> dict[str, Any]:
    src = textwrap.dedent(f"""\
        from keras.models import Sequential
        from keras.layers import Dense
        from keras.optimizers import SGD, Adam

        model = Sequential([Dense(2, input_shape=(3,))])
        model.compile(loss="mse", optimizer={optimizer})
        """)
    res = convert_source(src)
    assert res.error == "" and "TODO(k2l)" not in res.source, res.source
    assert not [u for u in res.unmapped if "decay" in u.reason], res.unmapped
    ns: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), ns)
    return ns


@pytest.mark.parametrize("optimizer,legacy,kwargs", [
    ("SGD(lr=0.1, decay=0.5)", "SGD", {"learning_rate": 0.1, "decay": 0.5}),
    ("SGD(lr=0.1, momentum=0.9, decay=0.5)", "SGD",
     {"learning_rate": 0.1, "momentum": 0.9, "decay": 0.5}),  # the rate inside the velocity
    ("Adam(lr=0.05, decay=0.3)", "Adam", {"learning_rate": 0.05, "decay": 0.3}),
])
def test_keras2_decay_scales_each_update_like_keras(tmp_path: Path, optimizer: str, legacy: str,
                                                      kwargs: dict[str, Any]) -> None:
    ns = _converted(optimizer)
    model = ns["model"]
    conf = model.configure_optimizers()
    assert conf["lr_scheduler"]["interval"] == "step"
    opt, scheduler = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    dense = model.layers[0]
    rng = np.random.default_rng(5)
    weights = [dense.weight.detach().numpy().T.copy(), dense.bias.detach().numpy().copy()]
    grads = [[rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=2).astype("float32")]
             for _ in range(6)]
    expected = _legacy_steps(tmp_path, legacy, kwargs, weights, grads)
    for kernel, bias in grads:
        opt.zero_grad()
        dense.weight.grad = torch.as_tensor(kernel.T.copy())
        dense.bias.grad = torch.as_tensor(bias)
        opt.step()
        scheduler.step()
    # six updates whose rate falls to a quarter: any other decay law is off by far more
    np.testing.assert_allclose(dense.weight.detach().numpy().T, expected[0], atol=2e-6)
    np.testing.assert_allclose(dense.bias.detach().numpy(), expected[1], atol=2e-6)


def test_keras2_decay_script_runs_without_tensorflow(tmp_path: Path) -> None:
    src = textwrap.dedent("""\
        import numpy as np
        from keras.models import Sequential
        from keras.layers import Dense
        from keras.optimizers import SGD

        x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
        y = x @ np.ones((3, 2), "float32")
        model = Sequential([Dense(2, input_shape=(3,))])
        model.compile(loss="mse", optimizer=SGD(lr=0.01, decay=1e-4, clipvalue=0.5))
        model.fit(x, y, batch_size=8, epochs=1)
        print("DONE")
        """)
    res = convert_source(src)
    assert res.keras_deps == [] and "TODO(k2l)" not in res.source, res.source
    assert "lambda step: 1 / (1 + 1e-4 * step)" in res.source
    run = run_without_tf(res.source, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "DONE" in run.stdout


def test_legacy_nadam_keeps_keras2_momentum_schedule(tmp_path: Path) -> None:
    """``keras.optimizers.legacy.Nadam`` decays the momentum with 0.96 ** (0.004 t) (torch's
    default ``momentum_decay``); Keras 3's Nadam with 0.96 ** t (test_training_numeric.py)."""
    src = textwrap.dedent("""\
        import keras
        from keras.models import Sequential
        from keras.layers import Dense

        model = Sequential([Dense(2, input_shape=(3,))])
        model.compile(loss="mse", optimizer=keras.optimizers.legacy.Nadam(learning_rate=0.01))
        """)
    res = convert_source(src)
    assert "TODO(k2l)" not in res.source and "momentum_decay=0.004" in res.source, res.source
    ns: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), ns)
    model = ns["model"]
    opt = model.configure_optimizers()
    dense = model.layers[0]
    rng = np.random.default_rng(7)
    weights = [dense.weight.detach().numpy().T.copy(), dense.bias.detach().numpy().copy()]
    grads = [[rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=2).astype("float32")]
             for _ in range(20)]
    expected = _legacy_steps(tmp_path, "Nadam", {"learning_rate": 0.01}, weights, grads)
    for kernel, bias in grads:
        opt.zero_grad()
        dense.weight.grad = torch.as_tensor(kernel.T.copy())
        dense.bias.grad = torch.as_tensor(bias)
        opt.step()
    # the two schedules part by ~1e-3 after 20 steps of 1e-2
    np.testing.assert_allclose(dense.weight.detach().numpy().T, expected[0], atol=2e-6)
    np.testing.assert_allclose(dense.bias.detach().numpy(), expected[1], atol=2e-6)
