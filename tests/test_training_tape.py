"""GradientTape loops → torch autograd (agent/rules/training/tape_loop.py).

The numbers come from Keras 3 on its torch backend: the same model (weights ported across),
the same loss object and optimizer, two steps; and converted loops run end to end in a
process where keras and tensorflow cannot be imported.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.rules.convert import convert_source

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")

LOOP = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras


    def build_model():
        inputs = keras.Input(shape=(6,))
        x = keras.layers.Dense(8, activation="relu")(inputs)
        outputs = keras.layers.Dense(3)(x)
        return keras.Model(inputs, outputs)


    optimizer = keras.optimizers.{optimizer}
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    accuracy = keras.metrics.SparseCategoricalAccuracy()
    loss_mean = keras.metrics.Mean(name="loss")


    @tf.function
    def train_step(model, x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        accuracy.update_state(y, logits)
        loss_mean.update_state(loss)
        return loss


    if __name__ == "__main__":
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 6)).astype("float32")
        y = rng.integers(0, 3, 64)
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(64).batch(16)
        model = build_model()
        for epoch in range(2):
            for xb, yb in dataset:
                loss = train_step(model, xb, yb)
            print("epoch", epoch, float(loss_mean.result()), accuracy.result().numpy(),
                  loss.numpy().shape)
            accuracy.reset_state()
        print("DONE")
    """)


def _converted(optimizer: str) -> str:
    res = convert_source(LOOP.replace("{optimizer}", optimizer))
    assert res.keras_deps == [], res.keras_deps
    assert "TODO(k2l)" not in res.source
    return res.source


def test_tape_loop_conversion_text() -> None:
    code = _converted("Adam(learning_rate=0.01)")
    assert "GradientTape" not in code and "@tf.function" not in code
    assert "logits = model.train()(x)" in code
    assert "grads = tape_gradient(loss, trainable_weights(model))" in code
    assert "optimizer = KerasOptimizer(torch.optim.Adam, lr=0.01" in code
    assert "eps=1e-07" in code  # Keras's epsilon, not torch's 1e-8
    unwrapped = re.sub(r"\(\s+", "(", code)  # generated lines are wrapped at 100 columns
    assert "loss_fn = KerasLoss(lambda y_true, y_pred: F.cross_entropy(" in unwrapped
    assert 'loss_mean = KerasMetric(None, name="loss")' in code
    assert "loss.detach().cpu().numpy().shape" in code


@pytest.mark.parametrize("optimizer,atol", [
    ("SGD(learning_rate=0.1)", 1e-6),
    ("SGD(learning_rate=0.1, momentum=0.9)", 1e-6),
    # Keras adds Adam's epsilon after the bias correction, torch before: a difference of
    # ~eps/sqrt(1 - beta_2^t) where a gradient is near zero (dead ReLU units here)
    ("Adam(learning_rate=0.001)", 5e-5),
])
def test_two_tape_steps_match_keras(optimizer: str, atol: float) -> None:
    """Loss, metric and every weight after two steps, against Keras 3 doing the same."""
    import keras
    import torch

    from agent.weights import port_weights

    module = types.ModuleType("converted_loop")
    exec(compile(_converted(optimizer), "converted_loop.py", "exec"), module.__dict__)
    keras.utils.set_random_seed(0)  # one draw of the weights: Adam's eps term is within atol
    kmodel = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(8, activation="relu"),
                               keras.layers.Dense(3)])
    tmodel = module.build_model()
    port_weights(kmodel, tmodel)
    kopt = eval(f"keras.optimizers.{optimizer}")
    kloss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    kacc = keras.metrics.SparseCategoricalAccuracy()
    rng = np.random.default_rng(1)
    for _ in range(2):
        x = rng.normal(size=(16, 6)).astype("float32")
        y = rng.integers(0, 3, 16)
        logits = kmodel(x, training=True)
        kl = kloss(y, logits)
        kl.backward()
        grads = [v.value.grad for v in kmodel.trainable_weights]
        with torch.no_grad():
            kopt.apply(grads, kmodel.trainable_weights)
        for v in kmodel.trainable_weights:
            v.value.grad = None
        kacc.update_state(y, logits.detach())
        tl = module.train_step(tmodel, torch.as_tensor(x), torch.as_tensor(y))
        assert abs(float(tl) - float(kl)) < max(atol, 1e-5), (float(tl), float(kl))
    assert abs(float(module.accuracy.result()) - float(kacc.result())) < 1e-6
    want = module.build_model()
    port_weights(kmodel, want)
    for (name, got), (_, expected) in zip(tmodel.state_dict().items(),
                                          want.state_dict().items(), strict=True):
        np.testing.assert_allclose(got.detach().numpy(), expected.numpy(), rtol=1e-5,
                                   atol=atol, err_msg=name)


def _run_blocked(tmp_path: Path, code: str) -> str:
    script = tmp_path / "train.py"
    script.write_text(code)
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=180, cwd=tmp_path,
                         env={**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return run.stdout


def test_tape_loop_runs_without_keras_or_tensorflow(tmp_path: Path) -> None:
    out = _run_blocked(tmp_path, _converted("Adam(learning_rate=0.01)"))
    assert "DONE" in out and out.count("epoch") == 2


def test_gan_step_with_two_optimizers_runs_without_tensorflow(tmp_path: Path) -> None:
    """Two models, two optimizers, two tapes in one with: each steps only its variables."""
    src = textwrap.dedent("""\
        import numpy as np
        import tensorflow as tf
        from tensorflow import keras

        generator = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(6)])
        discriminator = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(1)])
        g_opt = keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.5)
        d_opt = keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.5)
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        rng = np.random.default_rng(0)
        data = (rng.normal(size=(24, 6)).astype("float32"),
                rng.normal(size=(24, 4)).astype("float32"))
        for real, noise in tf.data.Dataset.from_tensor_slices(data).batch(8):
            with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
                fake = generator(noise, training=True)
                real_out = discriminator(real, training=True)
                fake_out = discriminator(fake, training=True)
                g_loss = bce(tf.ones_like(fake_out), fake_out)
                d_loss = bce(tf.ones_like(real_out), real_out) + bce(tf.zeros_like(fake_out), fake_out)
            g_grads = g_tape.gradient(g_loss, generator.trainable_variables)
            d_grads = d_tape.gradient(d_loss, discriminator.trainable_variables)
            g_opt.apply_gradients(zip(g_grads, generator.trainable_variables))
            d_opt.apply_gradients(zip(d_grads, discriminator.trainable_variables))
        print("DONE", g_opt.iterations, d_opt.iterations)
        """)
    res = convert_source(src)
    assert res.keras_deps == [], res.keras_deps
    assert "DONE 3 3" in _run_blocked(tmp_path, res.source)


def test_runtime_tape_gradient_follows_tf_rules() -> None:
    """Non-scalar targets are summed, unconnected sources give None, nesting is kept."""
    import torch

    from agent.rules.training.runtime.training_loop import tape_gradient, tape_watch

    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor(3.0, requires_grad=True)
    x = tape_watch(torch.tensor([2.0, 5.0]))
    grads: Any = tape_gradient(a * a * x, [a, b, x])
    assert grads[0].tolist() == [4.0, 20.0] and grads[1] is None and grads[2].tolist() == [1, 4]
    assert tape_gradient(b * b, b).item() == 6.0
    assert set(tape_gradient(b * a.sum(), {"a": a, "b": b})) == {"a", "b"}


def test_fit_history_records_each_epoch_without_tensorflow(tmp_path: Path) -> None:
    """``history.history`` after fit: one value per epoch under Keras's names."""
    src = textwrap.dedent("""\
        import numpy as np
        from tensorflow import keras

        rng = np.random.default_rng(0)
        x = rng.normal(size=(40, 5)).astype("float32")
        y = rng.integers(0, 2, 40).astype("float32")
        model = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0,
                            callbacks=[keras.callbacks.EarlyStopping(patience=5)])
        print("KEYS", sorted(history.history))
        print("LENGTHS", [len(v) for v in history.history.values()], history.epoch)
        """)
    res = convert_source(src)
    assert res.keras_deps == [] and "TODO(k2l)" not in res.source
    script = tmp_path / "train.py"
    script.write_text(res.source)
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=180, cwd=tmp_path, env=dict(os.environ))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "KEYS ['accuracy', 'loss', 'val_accuracy', 'val_loss']" in run.stdout
    assert "LENGTHS [3, 3, 3, 3] [0, 1, 2]" in run.stdout


STEP = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers


    class Regressor(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = layers.Dense(16, activation="relu")
            self.out = layers.Dense(1)

        def call(self, x):
            return self.out(self.hidden(x))

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = tf.reduce_mean(tf.square(y - y_pred))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return {"loss": loss}


    def build_model():
        model = Regressor()
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.5))
        return model


    if __name__ == "__main__":
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 4)).astype("float32")
        y = x.sum(axis=1, keepdims=True)
        model = build_model()
        model.fit(x, y, epochs=2, batch_size=16)
        print("DONE")
    """)


def test_custom_train_step_becomes_manual_optimization_and_runs(tmp_path: Path) -> None:
    res = convert_source(STEP)
    assert res.keras_deps == [] and res.unmapped == [], (res.keras_deps, res.unmapped)
    code = res.source
    assert "self.automatic_optimization = False" in code
    assert "logs = self.train_step(batch[0] if len(batch) == 1 else batch)" in code
    assert "return KerasOptimizer.wrap(self.optimizers())" in code
    assert "loss = torch.mean(torch.square(y - y_pred))" in code
    assert "TODO(k2l)" not in code
    out = _run_blocked(tmp_path, code)
    assert "DONE" in out


def test_custom_train_step_matches_keras_for_two_steps() -> None:
    """Two batches through the converted train_step (Lightning, manual optimization) and
    through Keras 3 on torch with the same SGD-momentum: same weights after."""
    import keras
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from agent.weights import port_weights

    module = types.ModuleType("converted_step")
    exec(compile(convert_source(STEP).source, "converted_step.py", "exec"), module.__dict__)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True).astype("float32")
    kmodel = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(16, activation="relu"),
                               keras.layers.Dense(1)])
    tmodel = module.build_model()
    tmodel(torch.zeros(1, 4))  # lazy layers: shapes from the first call, as Keras builds
    port_weights(kmodel, tmodel)
    kopt = keras.optimizers.SGD(learning_rate=0.1, momentum=0.5)
    for k in range(2):
        xb, yb = x[k * 16:(k + 1) * 16], y[k * 16:(k + 1) * 16]
        loss = keras.ops.mean(keras.ops.square(keras.ops.convert_to_tensor(yb)
                                               - kmodel(xb, training=True)))
        loss.backward()
        with torch.no_grad():
            kopt.apply([v.value.grad for v in kmodel.trainable_weights], kmodel.trainable_weights)
        for v in kmodel.trainable_weights:
            v.value.grad = None
    loader = DataLoader(TensorDataset(torch.as_tensor(x), torch.as_tensor(y)), batch_size=16)
    pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False).fit(tmodel, loader)
    want = module.build_model()
    want(torch.zeros(1, 4))
    port_weights(kmodel, want)
    for (name, got), (_, expected) in zip(tmodel.state_dict().items(),
                                          want.state_dict().items(), strict=True):
        np.testing.assert_allclose(got.detach().numpy(), expected.numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=name)


ACCUMULATED = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras


    def build_model():
        inputs = keras.Input(shape=(4,))
        return keras.Model(inputs, keras.layers.Dense(1)(inputs))


    def train(model, optimizer, xs):
        steps = 0
        total, penalty = 0.0, 0.0
        with tf.GradientTape() as tape:
            for x in xs:
                out = model(tf.convert_to_tensor(x), training=True)
                total += tf.reduce_mean(tf.square(out))
                penalty += 0.01 * tf.reduce_sum(tf.abs(out))
                steps += 1
            loss = total + penalty
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return float(loss), steps


    if __name__ == "__main__":
        xs = [np.ones((2, 4), "float32") * k for k in range(3)]
        print("LOSS", train(build_model(), keras.optimizers.SGD(0.1), xs))
    """)


def test_loss_accumulators_are_typed_for_tensor_sums(tmp_path: Path) -> None:
    """``total = 0.0`` then ``total += <tensor>`` in a tape loop: annotated so mypy accepts
    the tensor sum (the TF original type-checked: its terms were untyped); a counter of
    numbers stays as written; the script still runs without TensorFlow."""
    code = convert_source(ACCUMULATED, "train.py").source
    assert "total: torch.Tensor | float = 0.0" in code
    assert "penalty: torch.Tensor | float = 0.0" in code
    assert "    steps = 0\n" in code
    script = tmp_path / "train.py"
    script.write_text(code)
    mypy = subprocess.run([sys.executable, "-m", "mypy", "--config-file=",
                           "--ignore-missing-imports", "--check-untyped-defs", str(script)],
                          capture_output=True, text=True, timeout=300)
    assert "train.py:" not in mypy.stdout, mypy.stdout
    assert "LOSS (" in _run_blocked(tmp_path, code)


def test_custom_train_step_class_has_each_epoch_hook_once() -> None:
    """The compiled step's epoch-mean hooks go with the step the Keras train_step replaces:
    one on_train_epoch_start (the tracker reset), never two definitions (ruff F811)."""
    src = (STEP.replace("    def train_step(self, data):",
                        "    @property\n    def metrics(self):\n"
                        "        return [self.tracker]\n\n"
                        "    def train_step(self, data):")
           .replace("        self.out = layers.Dense(1)",
                    "        self.out = layers.Dense(1)\n"
                    "        self.tracker = keras.metrics.Mean(name=\"loss\")")
           .replace("        return {\"loss\": loss}",
                    "        self.tracker.update_state(loss)\n"
                    "        return {\"loss\": self.tracker.result()}")
           .replace("model.compile(optimizer=", "model.compile(loss=\"mse\", optimizer="))
    assert src.count("self.tracker") == 4  # made, listed, updated, read
    code = convert_source(src).source
    assert "for metric in self.metrics:" in code  # the tracker reset hook is written
    assert code.count("def on_train_epoch_start(") == 1, code
    assert code.count("def on_validation_epoch_start(") <= 1, code
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F811", "-"],
                          input=code, capture_output=True, text=True, timeout=60)
    assert ruff.returncode == 0, ruff.stdout
