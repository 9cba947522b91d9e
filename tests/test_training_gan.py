"""Keras models that only override ``train_step`` (GAN/VAE/distillation style) →
LightningModules under manual optimization (agent/rules/training/custom_step.py).

The programs below are written for these tests: a GAN whose ``compile`` takes two
optimizers, a distiller whose ``compile`` passes ``optimizer``/``metrics`` to
``super().compile``, a WGAN-style gradient penalty (a tape inside a tape), and a subclass
called once on a NumPy array to build it. Converted scripts run in a process where keras
and tensorflow cannot be imported, under ``PL_TRAINER_FAST_DEV_RUN=1``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")

GAN = textwrap.dedent("""\
    import keras
    import numpy as np
    import tensorflow as tf

    NOISE = 3


    def make_critic():
        return keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(8, activation="relu"),
                                 keras.layers.Dense(1)])


    def make_maker():
        return keras.Sequential([keras.Input(shape=(NOISE,)), keras.layers.Dense(5)])


    class PairTrainer(keras.Model):
        def __init__(self, critic, maker):
            super().__init__()
            self.critic = critic
            self.maker = maker
            self.c_tracker = keras.metrics.Mean(name="c_loss")
            self.m_tracker = keras.metrics.Mean(name="m_loss")

        def compile(self, c_opt, m_opt, loss_fn):
            super().compile()
            self.c_opt = c_opt
            self.m_opt = m_opt
            self.loss_fn = loss_fn

        @property
        def metrics(self):
            return [self.c_tracker, self.m_tracker]

        def train_step(self, real):
            n = tf.shape(real)[0]
            fake = self.maker(tf.random.normal((n, NOISE)))
            with tf.GradientTape() as tape:
                c_loss = self.loss_fn(tf.ones((n, 1)), self.critic(real)) + self.loss_fn(
                    tf.zeros((n, 1)), self.critic(fake))
            grads = tape.gradient(c_loss, self.critic.trainable_weights)
            self.c_opt.apply_gradients(zip(grads, self.critic.trainable_weights))
            with tf.GradientTape() as tape:
                m_loss = self.loss_fn(tf.ones((n, 1)), self.critic(self.maker(
                    tf.random.normal((n, NOISE)))))
            grads = tape.gradient(m_loss, self.maker.trainable_weights)
            self.m_opt.apply_gradients(zip(grads, self.maker.trainable_weights))
            self.c_tracker.update_state(c_loss)
            self.m_tracker.update_state(m_loss)
            return {m.name: m.result() for m in self.metrics}


    if __name__ == "__main__":
        data = np.random.default_rng(0).normal(size=(64, 5)).astype("float32")
        pair = PairTrainer(make_critic(), make_maker())
        pair.compile(c_opt=keras.optimizers.Adam(2e-4, beta_1=0.5),
                     m_opt=keras.optimizers.RMSprop(1e-3),
                     loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))
        pair.fit(data, epochs=1, batch_size=16)
        print("DONE")
    """)


def _run_blocked(tmp_path: Path, code: str) -> str:
    script = tmp_path / "train.py"
    script.write_text(code)
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=180, cwd=tmp_path,
                         env={**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return run.stdout


def _clean(src: str) -> str:
    res = convert_source(src)
    assert res.error == "" and res.keras_deps == [] and res.unmapped == [], (
        res.keras_deps, res.unmapped)
    assert "TODO(k2l)" not in res.source
    return res.source


def test_gan_without_call_converts_and_runs_without_tensorflow(tmp_path: Path) -> None:
    code = _clean(GAN)
    assert "class PairTrainer(pl.LightningModule):" in code
    assert "super().compile()" not in code  # torch's nn.Module.compile would compile it
    assert "self.c_opt.build(self.critic.parameters())" in code
    assert "self.m_opt.build(self.maker.parameters())" in code
    assert 'KerasMetric(None, name="c_loss")' in code
    assert "DONE" in _run_blocked(tmp_path, code)


def test_gan_optimizers_belong_to_lightning_and_step_their_own_model() -> None:
    """configure_optimizers returns compile()'s two optimizers, each over the weights its
    apply_gradients steps; one training_step changes both models (Keras's order: critic,
    then maker), the critic's optimizer holding the critic's parameters only."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    module = types.ModuleType("converted_gan")
    code = _clean(GAN).replace('if __name__ == "__main__":', "if False:")
    exec(compile(code, "converted_gan.py", "exec"), module.__dict__)
    pair = module.PairTrainer(module.make_critic(), module.make_maker())
    pair.compile(c_opt=module.KerasOptimizer(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999),
                                             eps=1e-07),
                 m_opt=module.KerasOptimizer(module.KerasRMSprop, lr=1e-3),
                 loss_fn=module.KerasLoss(lambda y, p: torch.nn.functional
                                          .binary_cross_entropy_with_logits(p, y)))
    c_opt, m_opt = pair.configure_optimizers()
    assert {id(p) for p in c_opt.param_groups[0]["params"]} == \
        {id(p) for p in pair.critic.parameters()}
    assert isinstance(m_opt, module.KerasRMSprop)
    before = {k: v.clone() for k, v in pair.state_dict().items()}
    data = torch.as_tensor(np.random.default_rng(1).normal(size=(16, 5)).astype("float32"))
    pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False).fit(
        pair, DataLoader(TensorDataset(data), batch_size=16))
    changed = {k.split(".")[0] for k, v in pair.state_dict().items()
               if not torch.equal(v, before[k])}
    assert changed == {"critic", "maker"}
    assert c_opt.state and m_opt.state  # Lightning's optimizers are the ones stepped
    assert pair.c_tracker.count.item() == 1.0


DISTILL = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras


    def small():
        return keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3)])


    class Mimic(keras.Model):
        def __init__(self, student, teacher):
            super().__init__()
            self.student = student
            self.teacher = teacher

        def compile(self, optimizer, metrics, weight=0.5):
            super().compile(optimizer=optimizer, metrics=metrics)
            self.weight = weight

        def train_step(self, data):
            x, y = data
            target = self.teacher(x, training=False)
            with tf.GradientTape() as tape:
                pred = self.student(x, training=True)
                loss = self.weight * tf.reduce_mean(tf.square(pred - target))
            grads = tape.gradient(loss, self.student.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.student.trainable_variables))
            self.compiled_metrics.update_state(y, pred)
            out = {m.name: m.result() for m in self.metrics}
            out["loss"] = loss
            return out


    if __name__ == "__main__":
        rng = np.random.default_rng(0)
        x = rng.normal(size=(32, 4)).astype("float32")
        y = rng.integers(0, 3, 32)
        mimic = Mimic(small(), small())
        mimic.compile(optimizer=keras.optimizers.SGD(0.1),
                      metrics=[keras.metrics.SparseCategoricalAccuracy()])
        mimic.fit(x, y, epochs=1, batch_size=8)
        print("DONE", [m.name for m in mimic.metrics])
    """)


def test_compile_override_passing_optimizer_and_metrics_to_super(tmp_path: Path) -> None:
    code = _clean(DISTILL)
    assert "self.optimizer = optimizer" in code
    assert "self.compiled_metrics = KerasCompiledMetrics(metrics)" in code
    assert "self.optimizer.build(self.student.parameters())" in code
    assert "DONE ['sparse_categorical_accuracy']" in _run_blocked(tmp_path, code)


PENALTY = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras


    class Critic(keras.Model):
        def __init__(self):
            super().__init__()
            self.score = keras.layers.Dense(1, use_bias=False)

        def call(self, x):
            return self.score(x)

        def penalty(self, x):
            with tf.GradientTape() as inner:
                inner.watch(x)
                out = self(x)
            grads = inner.gradient(out, [x])[0]
            norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1))
            return tf.reduce_mean((norm - 1.0) ** 2)

        def train_step(self, x):
            with tf.GradientTape() as tape:
                loss = self.penalty(x)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return {"loss": loss}


    def build_model():
        model = Critic()
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        return model
    """)


def test_gradient_under_an_outer_tape_is_differentiable() -> None:
    """A gradient penalty: the inner tape's gradient is recorded by the outer tape in TF, so
    the converted helper asks torch for ``create_graph=True``; the outer gradient is then the
    analytic one, d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w| (zero without create_graph)."""
    code = _clean(PENALTY)
    assert "tape_gradient(out, [x], create_graph=True)[0]" in code
    assert "tape_gradient(loss, trainable_weights(self))" in code  # the outer one: plain
    module = types.ModuleType("converted_penalty")
    exec(compile(code, "converted_penalty.py", "exec"), module.__dict__)
    model = module.build_model()
    x = torch.as_tensor(np.random.default_rng(0).normal(size=(4, 3)).astype("float32"))
    model(x)  # lazy layer: built on the first call, as Keras builds
    loss = model.penalty(x)
    (grad,) = module.tape_gradient(loss, trainable_weights := module.trainable_weights(model))
    w = trainable_weights[0].detach()
    norm = w.norm()
    np.testing.assert_allclose(grad.numpy(), (2 * (norm - 1) * w / norm).numpy(), rtol=1e-5)


SUBMODEL = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras


    class Wrapper(keras.Model):
        def __init__(self):
            super().__init__()
            self.body = keras.Sequential([keras.layers.Dense(4, activation="relu"),
                                          keras.layers.Dense(1)])
            self.tracker = keras.metrics.Mean(name="loss")

        def call(self, x, training=False):
            return self.body(x, training=training)

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.abs(self(x, training=True) - y))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.tracker.update_state(loss)
            return {"loss": self.tracker.result()}


    def build_model(width=7):
        model = Wrapper()
        model(np.zeros((1, width), dtype="float32"))
        model.compile(optimizer="adam")
        return model


    if __name__ == "__main__":
        rng = np.random.default_rng(0)
        model = build_model()
        model.fit(rng.normal(size=(16, 7)).astype("float32"),
                  rng.normal(size=(16, 1)).astype("float32"), epochs=1)
        print("DONE")
    """)


@pytest.mark.parametrize("check", ["text", "run"])
def test_submodel_called_with_training_and_a_dry_numpy_call(tmp_path: Path, check: str) -> None:
    """``self.body(x, training=training)``: the sub-module follows the parent's mode (its
    forward has no such parameter); ``model(np.zeros((1, width)))`` in the builder gives the
    input shape (the builder's default) and stays as a call on a tensor."""
    res = convert_source(SUBMODEL)
    assert res.keras_deps == [], res.keras_deps
    code = res.source
    if check == "text":
        assert "return self.body(x)" in code
        assert "self.example_input_array = torch.zeros(1, 7)" in code
        assert 'model(torch.as_tensor(np.zeros((1, width), dtype="float32")))' in code
    else:
        assert "DONE" in _run_blocked(tmp_path, code)


FUNCTIONAL_SUBCLASS = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras


    class StepModel(keras.Model):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.compiled_metrics.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}


    def build_model(width=4):
        inputs = keras.Input(shape=(width,))
        hidden = keras.layers.Dense(5, activation="tanh")(inputs)
        outputs = keras.layers.Dense(2)(hidden)
        model = StepModel(inputs, outputs)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse",
                      metrics=["mae"])
        return model


    if __name__ == "__main__":
        rng = np.random.default_rng(0)
        model = build_model()
        model.fit(rng.normal(size=(32, 4)).astype("float32"),
                  rng.normal(size=(32, 2)).astype("float32"), epochs=1, batch_size=8)
        print("DONE")
    """)


def test_functional_subclass_folds_its_train_step_into_the_model(tmp_path: Path) -> None:
    """``StepModel(inputs, outputs)``: one LightningModule holding the graph and the step,
    with Keras's compiled_loss, compiled_metrics, metrics and losses."""
    code = _clean(FUNCTIONAL_SUBCLASS)
    assert "class StepModel" not in code  # folded into the generated class
    assert code.count("(pl.LightningModule):") == 1
    assert 'KerasMetric(lambda y, p: (p - y.reshape(p.shape)).abs(), name="mae")' in code
    assert "DONE" in _run_blocked(tmp_path, code)


def test_functional_subclass_step_matches_keras() -> None:
    """One batch through the converted train_step and through Keras 3 (torch backend): the
    same weights after the SGD step, and the logged loss/mae are Keras's."""
    import keras
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    from agent.weights import port_weights

    module = types.ModuleType("converted_functional_step")
    exec(compile(_clean(FUNCTIONAL_SUBCLASS), "converted_functional_step.py", "exec"),
         module.__dict__)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    inputs = keras.Input(shape=(4,))
    kmodel = keras.Model(inputs, keras.layers.Dense(2)(
        keras.layers.Dense(5, activation="tanh")(inputs)))
    tmodel = module.build_model()
    port_weights(kmodel, tmodel)
    y_pred = kmodel(x, training=True)
    target = keras.ops.convert_to_tensor(y)
    loss = keras.ops.mean(keras.losses.mean_squared_error(target, y_pred))
    mae = float(keras.ops.mean(keras.ops.abs(y_pred - target)).detach())
    loss.backward()
    loss = loss.detach()
    with torch.no_grad():
        keras.optimizers.SGD(learning_rate=0.1).apply(
            [v.value.grad for v in kmodel.trainable_weights], kmodel.trainable_weights)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(tmodel, DataLoader(TensorDataset(torch.as_tensor(x), torch.as_tensor(y)),
                                   batch_size=8))
    assert abs(trainer.callback_metrics["loss"].item() - float(loss)) < 1e-5
    assert abs(trainer.callback_metrics["mae"].item() - mae) < 1e-5
    want = module.build_model()
    port_weights(kmodel, want)
    for (name, got), (_, expected) in zip(tmodel.state_dict().items(),
                                          want.state_dict().items(), strict=True):
        np.testing.assert_allclose(got.detach().numpy(), expected.numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=name)


METRIC_FUNCTIONS = textwrap.dedent("""\
    import keras
    import keras.backend as K
    import numpy as np
    from keras import layers

    SMOOTH = 1.0


    def overlap(y_true, y_pred):
        inter = K.sum(y_true * y_pred)
        return (2.0 * inter + SMOOTH) / (K.sum(y_true) + K.sum(y_pred) + SMOOTH)


    def overlap_loss(y_true, y_pred):
        return 1.0 - overlap(y_true, y_pred)


    class Draw(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seeds = keras.random.SeedGenerator(7)

        def call(self, inputs):
            mean, log_var = inputs
            noise = keras.random.normal(shape=keras.ops.shape(mean), seed=self.seeds)
            return mean + keras.ops.exp(0.5 * log_var) * noise


    def build_model():
        inputs = keras.Input(shape=(6,))
        mean = layers.Dense(3)(inputs)
        log_var = layers.Dense(3)(inputs)
        outputs = Draw()([mean, log_var])
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", loss=overlap_loss, metrics=[overlap])
        return model


    if __name__ == "__main__":
        rng = np.random.default_rng(0)
        x = rng.random((16, 6)).astype("float32")
        model = build_model()
        model.fit(x, (x[:, :3] > 0.5).astype("float32"), epochs=1, batch_size=8)
        print("DONE")
    """)


def test_metric_function_custom_loss_and_list_input_layer(tmp_path: Path) -> None:
    """A metric function is logged as Keras averages it; a custom loss whose K ops all
    converted is a change, not a warning; a layer called on a list gets the list; a
    SeedGenerator becomes a seeded torch.Generator."""
    res = convert_source(METRIC_FUNCTIONS)
    assert res.unmapped == [] and res.warnings == [] and res.keras_deps == [], (
        res.unmapped, res.warnings, res.keras_deps)
    code = res.source
    assert "overlap_value = (overlap(y, y_hat)).float().mean()" in code
    assert "self.draw([mean, log_var])" in code
    assert "self.seeds = torch.Generator().manual_seed(7)" in code
    assert any(c.rule == "training.custom_loss" for c in res.changes)
    out = _run_blocked(tmp_path, code)
    assert "DONE" in out


ADD_LOSS = textwrap.dedent("""\
    import keras
    import numpy as np
    from keras import layers, ops


    class Penalised(layers.Layer):
        def __init__(self, rate=0.1, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * ops.sum(ops.square(inputs)))
            return inputs


    def build_model():
        inputs = keras.Input(shape=(3,))
        h = layers.Dense(4, activation="tanh")(inputs)
        h = Penalised()(h)
        outputs = layers.Dense(2)(h)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="sgd", loss="mse")
        return model


    if __name__ == "__main__":
        rng = np.random.default_rng(0)
        model = build_model()
        model.fit(rng.normal(size=(8, 3)).astype("float32"),
                  rng.normal(size=(8, 2)).astype("float32"), epochs=1)
        print("DONE")
    """)


def test_add_loss_terms_join_the_step_loss_as_in_keras(tmp_path: Path) -> None:
    """``self.add_loss(t)`` in a layer: Keras's training loss is compile()'s loss plus the
    terms of the last call; the converted training_step returns the same number."""
    import keras

    from agent.weights import port_weights

    res = convert_source(ADD_LOSS)
    assert res.unmapped == [] and res.keras_deps == [], (res.unmapped, res.keras_deps)
    module = types.ModuleType("converted_add_loss")
    exec(compile(res.source, "converted_add_loss.py", "exec"), module.__dict__)
    ns: dict[str, object] = {}
    exec(compile(ADD_LOSS, "keras_add_loss.py", "exec"), ns)
    kmodel = ns["build_model"]()  # type: ignore[operator]
    tmodel = module.build_model()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    tmodel(torch.as_tensor(x))  # lazy modules: built on the first call, as Keras builds
    port_weights(kmodel, tmodel)
    y_pred = kmodel(x)
    expected = float(keras.ops.mean(keras.losses.mean_squared_error(
        keras.ops.convert_to_tensor(y), y_pred)).detach()) + sum(
        float(t.detach()) for t in kmodel.losses)
    got = tmodel.training_step([torch.as_tensor(x), torch.as_tensor(y)], 0)
    assert abs(float(got) - expected) < 1e-5 * max(1.0, abs(expected))
    assert "DONE" in _run_blocked(tmp_path, res.source)


def test_validation_hooks_only_where_fit_validates() -> None:
    """Keras resets the trackers before validating too; without validation data the hook
    would be dead code (a reviewer's finding, issue 12)."""
    assert "def on_validation_epoch_start" not in _clean(GAN)
    validating = GAN.replace("pair.fit(data, epochs=1, batch_size=16)",
                             "pair.fit(data, epochs=1, batch_size=16, validation_data=(data,))")
    code = convert_source(validating).source  # its validation loss is left TODO: no loss
    assert code.count("def on_validation_epoch_start") == 1
    assert "trainer.fit(pair, train_loader, val_loader)" in code
