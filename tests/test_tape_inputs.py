"""Gradients with respect to inputs (agent/rules/training/tape_inputs.py): gradient ascent on
a watched input, a ``tf.Variable`` image stepped by an optimizer, persistent tapes.

Numbers: the gradient of the Keras model itself (Keras 3 on torch, weights ported to the
converted model), with TF's tape semantics applied by hand (watch, l2_normalize, the rebinding
update, SGD on a variable, clip); the converted scripts also run end to end where keras and
tensorflow cannot be imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import libcst as cst
import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.rules.training import tape_inputs
from agent.rules.training.runtime.training_loop import (
    tape_gradient,
    tape_variable,
    tape_watch,
    variable_assign,
    variable_assign_add,
    variable_assign_sub,
)

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")

ASCENT = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras

    model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(3)])


    def unit_score(x, unit):
        out = model(x)
        return tf.reduce_mean(out[:, unit])


    @tf.function
    def ascent_step(x, unit, step_size):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = unit_score(x, unit)
        grads = tape.gradient(score, x)
        grads = tf.math.l2_normalize(grads)
        x += step_size * grads
        return score, x


    def visualize(unit, steps):
        x = tf.random.uniform((2, 8))
        for _ in range(steps):
            score, x = ascent_step(x, unit, 0.5)
        return score, x.numpy()


    if __name__ == "__main__":
        score, img = visualize(1, 5)
        img = np.clip(img * 255.0, 0, 255).astype("uint8")
        print("DONE", img.shape, img.dtype)
    """)

PAINT = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras

    encoder = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(5, activation="tanh"),
                                keras.layers.Dense(4)])
    optimizer = keras.optimizers.SGD(learning_rate=0.05)
    target = tf.constant([[0.5, -0.5, 1.0, 0.0], [1.5, 0.0, -1.0, 0.25]])


    def objective(image):
        features = encoder(image)
        return tf.reduce_sum(tf.square(features - target))


    def paint_step(image):
        with tf.GradientTape(persistent=True) as tape:
            loss = objective(image)
            smooth = tf.reduce_mean(tf.abs(image[:, 1:] - image[:, :-1]))
        grads = tape.gradient(loss, image)
        smooth_grads = tape.gradient(smooth, image)
        del tape
        optimizer.apply_gradients([(grads + 0.1 * smooth_grads, image)])
        image.assign(tf.clip_by_value(image, -1.0, 1.0))
        return loss


    paint_step = tf.function(paint_step)


    if __name__ == "__main__":
        rng = np.random.default_rng(0)
        image = tf.Variable(rng.normal(size=(2, 6)).astype("float32"))
        for step in range(4):
            loss = paint_step(image)
        image.assign_add(tf.ones_like(image) * 0.5)
        print("DONE", image.numpy().shape, image.numpy().max() <= 1.5)
    """)


PENALTY_GAN = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras

    LATENT = 3


    class PenaltyGAN(keras.Model):
        def __init__(self, critic, generator, gp_weight=10.0):
            super().__init__()
            self.critic = critic
            self.generator = generator
            self.gp_weight = gp_weight

        def compile(self, c_optimizer, g_optimizer):
            super().compile()
            self.c_optimizer = c_optimizer
            self.g_optimizer = g_optimizer

        def gradient_penalty(self, real, fake):
            alpha = tf.random.uniform([tf.shape(real)[0], 1], 0.0, 1.0)
            mixed = real + alpha * (fake - real)
            with tf.GradientTape() as gp_tape:
                gp_tape.watch(mixed)
                score = self.critic(mixed, training=True)
            grads = gp_tape.gradient(score, [mixed])[0]
            norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1))
            return tf.reduce_mean((norm - 1.0) ** 2)

        def train_step(self, real):
            batch = tf.shape(real)[0]
            noise = tf.random.normal(shape=(batch, LATENT))
            with tf.GradientTape() as tape:
                fake = self.generator(noise, training=True)
                c_loss = tf.reduce_mean(self.critic(fake, training=True)) - tf.reduce_mean(
                    self.critic(real, training=True))
                c_loss = c_loss + self.gp_weight * self.gradient_penalty(real, fake)
            c_grads = tape.gradient(c_loss, self.critic.trainable_variables)
            self.c_optimizer.apply_gradients(zip(c_grads, self.critic.trainable_variables))
            with tf.GradientTape() as tape:
                g_loss = -tf.reduce_mean(self.critic(self.generator(noise, training=True),
                                                     training=True))
            g_grads = tape.gradient(g_loss, self.generator.trainable_variables)
            self.g_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_variables))
            return {"c_loss": c_loss, "g_loss": g_loss}


    if __name__ == "__main__":
        data = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
        critic = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(8, activation="relu"),
                                   keras.layers.Dense(1)])
        generator = keras.Sequential([keras.Input(shape=(LATENT,)), keras.layers.Dense(4)])
        gan = PenaltyGAN(critic, generator)
        gan.compile(keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5))
        gan.fit(data, batch_size=8, epochs=1)
        print("DONE", gan.c_optimizer.iterations, gan.g_optimizer.iterations)
    """)


def _clean(src: str) -> str:
    res = convert_source(src)
    assert res.error == "" and res.keras_deps == [] and res.unmapped == [], (
        res.keras_deps, res.unmapped)
    assert "TODO(k2l)" not in res.source and "GradientTape" not in res.source
    return res.source


def _run_blocked(tmp_path: Path, code: str) -> str:
    script = tmp_path / "script.py"
    script.write_text(code)
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=180, cwd=tmp_path,
                         env={**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return run.stdout


def _load(code: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(code, f"{name}.py", "exec"), module.__dict__)
    return module


def _keras_gradient(kmodel: object, x: np.ndarray, objective: object) -> tuple[float, np.ndarray]:
    """d objective(kmodel(x)) / dx of the Keras model itself (Keras 3 runs on torch)."""
    xt = torch.tensor(x, requires_grad=True)
    value = objective(kmodel(xt))  # type: ignore[operator]
    (grad,) = torch.autograd.grad(value, [xt])
    return float(value.detach()), grad.numpy()


def test_input_gradient_ascent_converts_and_runs_without_tensorflow(tmp_path: Path) -> None:
    code = _clean(ASCENT)
    assert "x = tape_watch(x)" in code
    assert "x = x + step_size * grads" in code  # TF rebinds; torch's += writes in place
    assert "@tf.function" not in code
    assert "DONE (2, 8) uint8" in _run_blocked(tmp_path, code)


def test_input_gradient_ascent_matches_keras() -> None:
    import keras

    from agent.weights import port_weights

    module = _load(_clean(ASCENT), "converted_ascent")
    kmodel = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(4, activation="relu"),
                               keras.layers.Dense(3)])
    port_weights(kmodel, module.model)
    x0 = np.random.default_rng(3).uniform(size=(2, 8)).astype("float32")
    x = torch.as_tensor(x0.copy())
    expected = x0.copy()
    for _ in range(3):
        score, x = module.ascent_step(x, 1, 0.5)
        want, grad = _keras_gradient(kmodel, expected, lambda out: out[:, 1].mean())
        grad = grad / np.sqrt(max(float((grad ** 2).sum()), 1e-12))  # tf.math.l2_normalize
        expected = expected + 0.5 * grad
        assert float(score) == pytest.approx(want, rel=1e-5)
        np.testing.assert_allclose(x.detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    first = torch.as_tensor(x0.copy())
    module.ascent_step(first, 1, 0.5)
    assert not first.requires_grad  # the caller's tensor stays a constant, as in TF
    np.testing.assert_array_equal(first.numpy(), x0)  # and TF's x += ... did not write it


def test_variable_image_with_persistent_tape_converts_and_runs(tmp_path: Path) -> None:
    code = _clean(PAINT)
    assert "image = tape_variable(rng.normal(size=(2, 6)).astype(\"float32\"))" in code
    assert "variable_assign(image, torch.clamp(image, min=-1.0, max=1.0))" in code
    assert "del tape" not in code and "tf.function" not in code
    assert "paint_step = paint_step" not in code
    assert "DONE (2, 6) True" in _run_blocked(tmp_path, code)


def test_variable_image_step_matches_keras() -> None:
    """Two SGD steps of a variable image on two gradients of one persistent tape, clipped."""
    import keras

    from agent.weights import port_weights

    module = _load(_clean(PAINT), "converted_paint")
    kmodel = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(5, activation="tanh"),
                               keras.layers.Dense(4)])
    port_weights(kmodel, module.encoder)
    target = np.array([[0.5, -0.5, 1.0, 0.0], [1.5, 0.0, -1.0, 0.25]], dtype="float32")
    start = np.random.default_rng(4).normal(size=(2, 6)).astype("float32")
    image = module.tape_variable(start)
    expected = start.copy()
    for _ in range(2):
        loss = module.paint_step(image)
        want, grad = _keras_gradient(kmodel, expected,
                                     lambda out: ((out - torch.as_tensor(target)) ** 2).sum())
        diff = np.diff(expected, axis=1)  # d mean|x[:, 1:] - x[:, :-1]| / dx, by hand
        sign = np.sign(diff) / diff.size
        smooth = np.zeros_like(expected)
        smooth[:, 1:] += sign
        smooth[:, :-1] -= sign
        expected = np.clip(expected - 0.05 * (grad + 0.1 * smooth), -1.0, 1.0)
        assert float(loss) == pytest.approx(want, rel=1e-5)
        np.testing.assert_allclose(image.detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert image.is_leaf and image.requires_grad  # still a trainable variable


def test_runtime_variables_follow_tf() -> None:
    """tf.Variable copies its value; Python floats give float32, NumPy keeps its dtype;
    assign* write in place without recording; watch leaves the caller's tensor alone."""
    source = np.ones(3)
    v = tape_variable(source)
    source[0] = 5.0
    assert v.dtype == torch.float64 and v[0].item() == 1.0 and v.requires_grad
    assert tape_variable(1.5).dtype == torch.float32
    assert not tape_variable(np.zeros(2, dtype="float32"), trainable=False).requires_grad
    w = tape_variable([1.0, 2.0])
    variable_assign_add(w, [1.0, 1.0])
    variable_assign_sub(w, 0.5)
    assert w.tolist() == [1.5, 2.5] and w.grad_fn is None and w.is_leaf
    assert variable_assign(w, np.array([3.0, 4.0])).tolist() == [3.0, 4.0]
    x = torch.tensor([2.0, 3.0])
    watched = tape_watch(x)
    assert watched.requires_grad and not x.requires_grad
    assert tape_gradient((watched ** 2).sum(), watched).tolist() == [4.0, 6.0]
    assert tape_watch(np.ones(2, dtype="float32")).requires_grad
    a, b = tape_watch([torch.ones(1), w])
    assert a.requires_grad and b is w  # a variable records already: returned as is


@pytest.mark.parametrize("statement", ["x += a * b", "x -= a - b", "x *= a + b", "x /= a ** b",
                                       "x **= b", "x -= -a", "x //= a"])
def test_rebound_augmented_assignment_computes_the_same(statement: str) -> None:
    """``x op= v`` → ``x = x op v``: the parentheses keep the value whole."""
    small = cst.parse_statement(statement)
    assert isinstance(small, cst.SimpleStatementLine)
    new = tape_inputs.rebind(small.body[0], {"x"})
    assert isinstance(new, cst.Assign)
    text = cst.Module([]).code_for_node(new)
    for x, a, b in ((7.0, 2.0, 3.0), (-1.5, 0.5, 2.0)):
        before: dict[str, float] = {"x": x, "a": a, "b": b}
        after = dict(before)
        exec(statement, {}, before)
        exec(text, {}, after)
        assert after["x"] == before["x"], text


def test_gradient_penalty_on_a_watched_mix_runs_under_fit(tmp_path: Path) -> None:
    """WGAN-GP: ``gp_tape.watch(mixed)`` of a tensor that records already (it comes from the
    generator) keeps it, and the penalty's gradient is itself differentiated."""
    code = _clean(PENALTY_GAN)
    assert "mixed = tape_watch(mixed)" in code
    assert "tape_gradient(score, [mixed], create_graph=True)[0]" in code
    assert "DONE 1 1" in _run_blocked(tmp_path, code)


def test_gradient_penalty_weight_gradients_match_keras() -> None:
    """d penalty / d critic weights, the penalty built on Keras's own critic with autograd
    (create_graph) and the same uniform draws; zero-free only with create_graph."""
    import keras

    from agent.weights import port_weights

    module = _load(_clean(PENALTY_GAN).split('if __name__ == "__main__":')[0], "converted_gp")
    kcritic = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(8, activation="relu"),
                                keras.layers.Dense(1)])
    tcritic = module.Critic()
    port_weights(kcritic, tcritic)
    gan = module.PenaltyGAN(tcritic, module.Generator())
    rng = np.random.default_rng(5)
    real = torch.as_tensor(rng.normal(size=(6, 4)).astype("float32"))
    fake = torch.as_tensor(rng.normal(size=(6, 4)).astype("float32"))
    torch.manual_seed(11)
    penalty = gan.gradient_penalty(real, fake)
    got = tape_gradient(penalty, module.trainable_weights(tcritic))
    torch.manual_seed(11)
    alpha = torch.rand((6, 1))  # the draw the converted helper made
    mixed = (real + alpha * (fake - real)).requires_grad_(True)
    (grad,) = torch.autograd.grad(kcritic(mixed).sum(), [mixed], create_graph=True)
    want_penalty = ((grad.pow(2).sum(1).sqrt() - 1.0) ** 2).mean()
    kernels = [w for w in kcritic.trainable_weights if len(w.shape) == 2]
    want = torch.autograd.grad(want_penalty, [k.value for k in kernels])
    assert float(penalty) == pytest.approx(float(want_penalty), rel=1e-5)
    weights = [g for g in got if g is not None and g.dim() == 2]
    assert len(weights) == 2 and float(weights[0].abs().sum()) > 0
    for mine, theirs in zip(weights, want, strict=True):
        np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy().T,
                                   rtol=1e-4, atol=1e-6)


def test_a_tape_used_for_a_jacobian_stays_tensorflow() -> None:
    """``tape.batch_jacobian`` has no torch form here: converting the other tape calls
    would leave ``tape`` unbound, so every tape of the script stays TF, reported."""
    src = ASCENT.replace("grads = tape.gradient(score, x)",
                         "grads = tape.gradient(score, x)\n"
                         "    jac = tape.batch_jacobian(score, x)")
    res = convert_source(src)
    assert "with tf.GradientTape() as tape:" in res.source
    assert "tape_watch" not in res.source and "tape.gradient(score, x)" in res.source
    assert "tensorflow.GradientTape" in {d.name for d in res.keras_deps}


def test_a_preprocess_input_call_is_no_model_left() -> None:
    """keras.applications' preprocess_input is a NumPy utility the rules copy in: a tape loop
    beside it converts (it counted as a Keras model left before)."""
    src = ASCENT.replace("from tensorflow import keras",
                         "from tensorflow import keras\n"
                         "from tensorflow.keras.applications import inception_v3")
    src = src.replace("x = tf.random.uniform((2, 8))",
                      "x = inception_v3.preprocess_input(tf.random.uniform((2, 8)) * 255.0)")
    code = _clean(src)
    assert "x = tape_watch(x)" in code and "inception_v3" not in code
