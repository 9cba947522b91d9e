"""Standalone training loops outside ``fit`` (agent/rules/training/loop_objects.py):
schedules, clipped optimizers, target networks and model weights.

Numbers come from Keras 3 on its torch backend (schedules per step, optimizer steps with
clipping and a schedule); the converted scripts run in a process where keras and
tensorflow cannot be imported.
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

from agent.rules.convert import convert_source

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")

ACTOR_CRITIC = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers


    def make_actor():
        inputs = layers.Input(shape=(4,))
        hidden = layers.Dense(16, activation="relu")(inputs)
        outputs = layers.Dense(2, activation="tanh")(hidden)
        return keras.Model(inputs, outputs)


    def make_critic():
        state = layers.Input(shape=(4,))
        action = layers.Input(shape=(2,))
        joined = layers.Concatenate()([state, action])
        hidden = layers.Dense(16, activation="relu")(joined)
        outputs = layers.Dense(1)(hidden)
        return keras.Model([state, action], outputs)


    actor = make_actor()
    critic = make_critic()
    target_actor = make_actor()
    target_critic = make_critic()
    target_actor.set_weights(actor.get_weights())
    target_critic.set_weights(critic.get_weights())

    decay = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=5, decay_rate=0.5)
    critic_optimizer = keras.optimizers.Adam(decay, clipnorm=1.0)
    actor_optimizer = keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, global_clipnorm=0.5)
    GAMMA = 0.9
    TAU = 0.05


    @tf.function
    def update(states, actions, rewards, next_states):
        with tf.GradientTape() as tape:
            target_actions = target_actor(next_states, training=True)
            y = rewards + GAMMA * target_critic([next_states, target_actions], training=True)
            value = critic([states, actions], training=True)
            critic_loss = tf.reduce_mean(tf.square(y - value))
        critic_grad = tape.gradient(critic_loss, critic.trainable_variables)
        critic_optimizer.apply_gradients(zip(critic_grad, critic.trainable_variables))
        with tf.GradientTape() as tape:
            value = critic([states, actor(states, training=True)], training=True)
            actor_loss = -tf.reduce_mean(value)
        actor_grad = tape.gradient(actor_loss, actor.trainable_variables)
        actor_optimizer.apply_gradients(zip(actor_grad, actor.trainable_variables))
        return critic_loss, actor_loss


    @tf.function
    def update_target(target_weights, weights, tau):
        for (a, b) in zip(target_weights, weights):
            a.assign(b * tau + a * (1 - tau))


    def soft_update(target, source, tau):
        for i, w in enumerate(source.weights):
            target.weights[i].assign(tau * w + (1 - tau) * target.weights[i])


    if __name__ == "__main__":
        rng = np.random.default_rng(0)
        for episode in range(3):
            batch = [tf.convert_to_tensor(rng.normal(size=(8, n)).astype("float32"))
                     for n in (4, 2, 1, 4)]
            c_loss, a_loss = update(*batch)
            update_target(target_actor.variables, actor.variables, TAU)
            soft_update(target_critic, critic, TAU)
            print("episode", episode, float(c_loss), float(a_loss))
        print("LR", float(critic_optimizer.learning_rate))
        print("DONE")
    """)


def _convert(src: str) -> str:
    res = convert_source(src)
    assert res.keras_deps == [], res.keras_deps
    assert "TODO(k2l)" not in res.source
    return res.source


def _module(code: str) -> types.ModuleType:
    module = types.ModuleType("converted_loop")
    exec(compile(code, "converted_loop.py", "exec"), module.__dict__)
    return module


def _run_blocked(tmp_path: Path, code: str) -> str:
    script = tmp_path / "loop.py"
    script.write_text(code)
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=180, cwd=tmp_path,
                         env={**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return run.stdout


def test_actor_critic_loop_text() -> None:
    code = _convert(ACTOR_CRITIC)
    assert "GradientTape" not in code and "@tf.function" not in code
    assert "set_layer_weights(target_actor, layer_weights(actor))" in code
    assert "decay = KerasSchedule(0.01, lambda step: 0.5 ** (step / 5))" in code
    assert "clipnorm=1.0" in code and "global_clipnorm=0.5" in code and "eps=1e-07" in code
    assert "target_critic.train()(next_states, target_actions)" in code  # list unpacked
    assert "variable_assign(a, b * tau + a * (1 - tau))" in code
    assert "update_target(module_variables(target_actor), module_variables(actor), TAU)" in code


def test_actor_critic_loop_runs_without_tensorflow(tmp_path: Path) -> None:
    out = _run_blocked(tmp_path, _convert(ACTOR_CRITIC))
    assert "DONE" in out and out.count("episode") == 3
    # three Adam steps on ExponentialDecay(0.01, 5, 0.5): the rate read at step 3
    lr = float(out.split("LR ")[1].split()[0])
    assert lr == pytest.approx(0.01 * 0.5 ** (3 / 5), rel=1e-6)


def test_target_network_updates_and_weight_copies() -> None:
    """``set_weights(get_weights())`` copies (not aliases) every weight; the soft update
    moves each target weight to ``tau * w + (1 - tau) * t`` without recording."""
    import torch

    module = _module(_convert(ACTOR_CRITIC).split('if __name__ == "__main__":')[0])
    actor, target = module.actor, module.target_actor
    for a, t in zip(actor.state_dict().values(), target.state_dict().values(), strict=True):
        assert torch.equal(a, t) and a.data_ptr() != t.data_ptr()
    with torch.no_grad():
        for p in target.parameters():
            p.add_(1.0)
    before = [t.detach().clone() for t in target.parameters()]
    module.update_target(module.module_variables(target), module.module_variables(actor), 0.25)
    for b, t, a in zip(before, target.parameters(), actor.parameters(), strict=True):
        torch.testing.assert_close(t.detach(), 0.25 * a.detach() + 0.75 * b)
        assert t.grad_fn is None and t.requires_grad
    weights = module.layer_weights(actor)
    assert all(isinstance(w, np.ndarray) for w in weights)
    with pytest.raises(ValueError):
        module.set_layer_weights(actor, weights[:-1])


SCHEDULES = [
    "ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5)",
    "ExponentialDecay(0.1, 4, 0.5, staircase=True)",
    "InverseTimeDecay(0.2, decay_steps=3, decay_rate=0.7)",
    "CosineDecay(0.05, decay_steps=8, alpha=0.1)",
    "PiecewiseConstantDecay(boundaries=[2, 5], values=[0.3, 0.2, 0.1])",
    "PolynomialDecay(0.1, decay_steps=6, end_learning_rate=0.01, power=2.0)",
]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_schedule_objects_match_keras(schedule: str) -> None:
    """A schedule made outside ``compile`` is a ``KerasSchedule``: the same rate at every
    step as Keras's own object, past the end of the decay too."""
    import keras

    src = ("import tensorflow as tf\nfrom tensorflow import keras\n\n"
           f"lr_schedule = keras.optimizers.schedules.{schedule}\n"
           "optimizer = keras.optimizers.SGD(learning_rate=lr_schedule)\n")
    module = _module(_convert(src))
    expected = eval(f"keras.optimizers.schedules.{schedule}", {"keras": keras})
    for step in range(12):
        assert module.lr_schedule(step) == pytest.approx(float(expected(step)), rel=1e-6), step


OPTIMIZERS = [
    ("SGD(learning_rate=0.1, clipnorm=0.5)", 1e-6),
    ("SGD(learning_rate=0.1, momentum=0.9, global_clipnorm=0.3)", 1e-6),
    ("SGD(learning_rate=0.05, clipvalue=0.2)", 1e-6),
    ("SGD(keras.optimizers.schedules.ExponentialDecay(0.5, 2, 0.5))", 1e-6),
    # Keras adds Adam's epsilon after the bias correction, torch before (optimizers.py's
    # note): ~1e-5 apart for these small clipped gradients
    ("Adam(learning_rate=0.05, clipvalue=0.02)", 5e-5),
    ("Adam(keras.optimizers.schedules.PiecewiseConstantDecay([1], [0.1, 0.01]), "
     "clipnorm=1.0)", 5e-5),
]


@pytest.mark.parametrize("optimizer,atol", OPTIMIZERS)
def test_optimizer_on_a_variable_matches_keras(optimizer: str, atol: float) -> None:
    """Gradient descent on a ``tf.Variable`` image in a loop (style transfer, deep dream):
    three clipped or scheduled steps equal Keras's."""
    import keras
    import torch

    src = textwrap.dedent(f"""\
        import tensorflow as tf
        from tensorflow import keras

        optimizer = keras.optimizers.{optimizer}


        def descend(image, target, steps):
            image = tf.Variable(image)
            for _ in range(steps):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum(tf.square(image - target)) * 3.0
                grads = tape.gradient(loss, image)
                optimizer.apply_gradients([(grads, image)])
            return image
        """)
    module = _module(_convert(src))
    rng = np.random.default_rng(3)
    start = rng.normal(size=(2, 3)).astype("float32")
    target = rng.normal(size=(2, 3)).astype("float32")
    got = module.descend(torch.as_tensor(start), torch.as_tensor(target), 3)

    kopt = eval(f"keras.optimizers.{optimizer}")
    var = keras.Variable(start)
    for _ in range(3):
        grad = 6.0 * (var.value.detach() - torch.as_tensor(target))
        with torch.no_grad():
            kopt.apply([grad], [var])
    assert not np.allclose(var.numpy(), start)  # the steps moved it
    np.testing.assert_allclose(got.detach().numpy(), var.numpy(), rtol=1e-5, atol=atol)


SCHEDULE_CLASS = textwrap.dedent("""\
    import math

    import keras
    import numpy as np
    from keras import ops


    class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self, peak, warmup_steps, total_steps):
            super().__init__()
            self.peak = peak
            self.warmup_steps = warmup_steps
            self.total_steps = total_steps

        def __call__(self, step):
            step = ops.cast(step, "float32")
            warm = self.peak * step / self.warmup_steps
            progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
            cosine = 0.5 * self.peak * (1 + ops.cos(math.pi * progress))
            return ops.where(step < self.warmup_steps, warm, cosine)

        def get_config(self):
            return {"peak": self.peak, "warmup_steps": self.warmup_steps}


    schedule = WarmupCosine(0.01, 4, 20)
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss="mse")
    """)


def test_schedule_subclass_steps_the_lightning_optimizer_like_keras() -> None:
    """A ``LearningRateSchedule`` subclass becomes a plain class; ``compile``'s optimizer
    starts at lr 1.0 under a ``LambdaLR`` whose factor is the schedule's value, so the
    learning rate of every step is Keras's."""
    import keras

    code = _convert(SCHEDULE_CLASS)
    assert "class WarmupCosine:" in code and "lr=1.0" in code
    module = _module(code)
    original = _module(SCHEDULE_CLASS)  # Keras 3 runs it (torch backend)
    optimizers = module.model.configure_optimizers()
    optimizer, scheduler = optimizers["optimizer"], optimizers["lr_scheduler"]["scheduler"]
    assert optimizers["lr_scheduler"]["interval"] == "step"
    for step in range(24):
        expected = float(keras.ops.convert_to_numpy(original.schedule(step)))
        assert optimizer.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-6), step
        optimizer.step()
        scheduler.step()
