"""NumPy values reaching TF ops in a tape loop (``tf.expand_dims(ret, 0)`` with ``ret`` from
an array of returns): TF converts them, torch does not, so those arguments, and only those,
go through ``torch.as_tensor`` (training/array_names.py)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import textwrap
from pathlib import Path

import libcst as cst
import pytest

from agent.rules.convert import convert_source
from agent.rules.models.array_shapes import numpy_names
from agent.rules.training.array_names import array_names
from tests.test_functional_graphs import runs

FLOWS = textwrap.dedent('''\
    import numpy as np

    def returns_of(rewards):
        return np.array(rewards)

    def step(model, rewards, xs):
        returns = returns_of(rewards)
        scaled = returns * 2.0
        noise = np.random.normal(size=3)
        outputs = [model(x) for x in xs]
        for out, ret in zip(outputs, scaled):
            pass
        for k, r in enumerate(returns):
            pass
        for item in reversed(noise):
            pass
        first, second = noise[0], outputs[0]
        tensor = model(xs[0])
        mixed = tensor * returns
    ''')


def test_names_bound_from_numpy_values_and_what_flows_from_them() -> None:
    module = cst.parse_module(FLOWS)
    numpy = numpy_names(module)
    fn = next(s for s in module.body if isinstance(s, cst.FunctionDef) and s.name.value == "step")
    found = array_names(fn, numpy, frozenset({"returns_of", "step"}))
    assert found == {"returns", "scaled", "noise", "ret", "r", "item", "first"}


SCRIPT = textwrap.dedent('''\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras

    GAMMA = 0.9

    inputs = keras.Input(shape=(4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    action = keras.layers.Dense(2, activation="softmax")(hidden)
    critic = keras.layers.Dense(1)(hidden)
    model = keras.Model(inputs, [action, critic])
    optimizer = keras.optimizers.Adam(learning_rate=0.01)
    huber = keras.losses.Huber()


    def discounted(rewards):
        out, running = [], 0.0
        for r in reversed(rewards):
            running = r + GAMMA * running
            out.insert(0, running)
        return np.array(out, dtype="float32")


    rng = np.random.default_rng(0)
    for episode in range(2):
        with tf.GradientTape() as tape:
            values, rewards = [], []
            for _ in range(5):
                state = tf.convert_to_tensor(rng.normal(size=(1, 4)).astype("float32"))
                probs, value = model(state)
                values.append(value[0, 0])
                rewards.append(float(rng.random() > 0.5))
            returns = discounted(rewards)
            loss = 0.0
            for value, ret in zip(values, returns):
                loss += huber(tf.expand_dims(value, 0), tf.expand_dims(ret, 0))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    ''')


@pytest.mark.slow
def test_only_the_numpy_argument_is_wrapped_and_the_loop_runs(tmp_path: Path) -> None:
    result = convert_source(SCRIPT, "script.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    assert "torch.unsqueeze(torch.as_tensor(ret), dim=0)" in code, code
    assert "torch.as_tensor(value)" not in code, code
    runs(code, tmp_path)
