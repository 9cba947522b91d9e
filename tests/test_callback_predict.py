"""``model.predict`` inside a Keras callback's hook (callback_predict.py): an inference pass
with the runtime's ``keras_predict``, not a method the LightningModule lacks nor a second
Trainer in the middle of fit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.rules.training.runtime.batches import keras_predict
from tests.without_tf import run_without_tf

SCRIPT = textwrap.dedent("""
    import numpy as np
    import keras
    from keras import layers


    class ShowPredictions(keras.callbacks.Callback):
        def __init__(self, data):
            super().__init__()
            self.data = data

        def on_epoch_end(self, epoch, logs=None):
            mine = self.model.predict(self.data, verbose=0)
            script = model.predict(self.data, batch_size=4)
            print("HOOK", mine.shape, round(float(mine.sum()), 4), round(float(script.sum()), 4))


    model = keras.Sequential([
        layers.Input((3,)),
        layers.Dense(5, activation="relu", kernel_initializer=keras.initializers.Constant(0.25),
                     bias_initializer="zeros"),
        layers.Dropout(0.5),
        layers.Dense(2, kernel_initializer=keras.initializers.Constant(-0.5),
                     bias_initializer="ones"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    x = np.linspace(-1.0, 2.0, 30, dtype="float32").reshape(10, 3)
    y = np.zeros((10, 2), dtype="float32")
    model.fit(x, y, batch_size=5, epochs=1, verbose=0, callbacks=[ShowPredictions(x)])
""")


def _hook_line(stdout: str) -> str:
    return next(ln for ln in stdout.splitlines() if ln.startswith("HOOK"))


def test_predict_in_a_hook_converts_to_an_inference_pass() -> None:
    result = convert_source(SCRIPT)
    assert result.keras_deps == [] and "TODO(k2l)" not in result.source, result.source
    assert "keras_predict(pl_module, self.data)" in result.source
    assert "keras_predict(model, self.data, batch_size=4)" in result.source
    hook = result.source.split("class ShowPredictions")[1].split("\nif __name__")[0]
    assert ".predict(" not in hook, hook  # no method the LightningModule lacks


def test_predict_in_a_hook_gives_keras_numbers_without_tensorflow(tmp_path: Path) -> None:
    pytest.importorskip("keras")
    original = tmp_path / "original.py"
    original.write_text(SCRIPT, encoding="utf-8")
    keras_run = subprocess.run([sys.executable, str(original)], capture_output=True, text=True,
                               timeout=300, check=False, cwd=tmp_path,
                               env={**os.environ, "KERAS_BACKEND": "torch"})
    assert keras_run.returncode == 0, keras_run.stderr[-3000:]
    result = convert_source(SCRIPT)
    run = run_without_tf(result.source, tmp_path, fast_dev_run=False)
    assert run.returncode == 0, run.stderr[-3000:]
    # learning rate 0: the weights stay Keras's initial ones, so both passes agree exactly,
    # and Dropout is off in both (inference mode), or the sums would differ from Keras's
    assert _hook_line(run.stdout) == _hook_line(keras_run.stdout)


def test_keras_predict_restores_the_training_mode_and_batches() -> None:
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Dropout(0.5))
    module.train()
    x = np.arange(21, dtype=np.float64).reshape(7, 3)
    out = keras_predict(module, x, batch_size=3)
    assert module.training  # fit goes on in training mode
    with torch.no_grad():
        expected = module.eval()(torch.as_tensor(x, dtype=torch.float32)).numpy()
    assert out.dtype == np.float32 and out.shape == (7, 4)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_keras_predict_of_two_inputs_and_two_outputs() -> None:
    class Two(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return a + b, a * b

    a = np.ones((5, 2), dtype="float32")
    b = np.full((5, 2), 3.0, dtype="float32")
    added, product = keras_predict(Two(), [a, b], batch_size=2)
    np.testing.assert_array_equal(added, a + b)
    np.testing.assert_array_equal(product, a * b)
