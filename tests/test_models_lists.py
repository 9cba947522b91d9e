"""Models assembled from Python lists, loops and parameters (issue 9 items 6 and 7).

Helpers whose loops run over lists known only by position (a size read from data at the end),
choices folded once a loop is unrolled (``"gelu" if idx == 0 else None``), tensors collected
in lists inside loops and then indexed, counted, summed or concatenated, and Sequentials
made from the sum of lists of layers. Each program is converted, both sides built (Keras 3
on torch as the reference), weights ported, outputs compared.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap

import keras
import libcst as cst
import numpy as np
import pytest
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from tests.test_models_graphs import KERAS, check

pytestmark = pytest.mark.slow


def test_helper_loop_over_enumerate_with_a_choice_per_iteration() -> None:
    code = check(KERAS + """
def mlp(x, dropout_rate, hidden_units):
    for idx, units in enumerate(hidden_units):
        x = layers.Dense(units, activation="gelu" if idx == 0 else None)(x)
        x = layers.Dropout(dropout_rate)(x)
    return x


def block(dim, mlp_units, dropout_rate):
    inputs = keras.Input((dim,))
    x = layers.LayerNormalization(epsilon=1e-6)(inputs)
    x = mlp(x, hidden_units=mlp_units, dropout_rate=dropout_rate)
    return keras.Model(inputs, x)


model = block(8, [16, 8], 0.1)
""", "model")
    # the first Dense got the gelu its unrolled test chose, the second none
    assert code.count("F.gelu(") == 1
    assert code.count("nn.Linear(") == 2


def test_helper_loop_over_a_list_whose_last_size_comes_from_data() -> None:
    code = check(KERAS + """
import json

HIDDEN = (12, 10)
spec = json.loads('{"actions": 3}')
n_actions = spec["actions"]


def mlp(x, sizes, activation="tanh", output_activation=None):
    for size in sizes[:-1]:
        x = layers.Dense(units=size, activation=activation)(x)
    return layers.Dense(units=sizes[-1], activation=output_activation)(x)


obs = keras.Input(shape=(6,))
logits = mlp(obs, list(HIDDEN) + [n_actions], "tanh", None)
actor = keras.Model(inputs=obs, outputs=logits)
""", "actor")
    assert code.count("torch.tanh(") == 2  # the loop ran for the two known sizes
    assert "n_actions" in code  # the size read from data stays the script's own name


def test_tensors_collected_in_a_loop_then_indexed_summed_and_concatenated() -> None:
    code = check(KERAS + """
BAG = 3


def create_model(shape):
    inputs, embeddings = [], []
    shared_1 = layers.Dense(8, activation="relu")
    shared_2 = layers.Dense(4, activation="relu")
    for _ in range(BAG):
        inp = layers.Input(shape)
        flat = layers.Flatten()(inp)
        e = shared_2(shared_1(flat))
        inputs.append(inp)
        embeddings.append(e)
    scaled = [layers.multiply([embeddings[i], embeddings[i]]) for i in range(len(embeddings))]
    total = layers.Add()(embeddings)
    concat = layers.concatenate(scaled + [total], axis=1)
    out = layers.Dense(2, activation="softmax")(concat)
    return keras.Model(inputs, out)


model = create_model((5, 2))
""", "model")
    assert code.count("self.shared_1(") == 3  # one layer, shared by the three inputs


def test_loop_over_a_list_of_tensors() -> None:
    check(KERAS + """
def create_model():
    left = keras.Input(shape=(4,))
    right = keras.Input(shape=(4,))
    parts = [left, right]
    outs = []
    for p in parts:
        outs.append(layers.Dense(3)(p))
    return keras.Model(parts, layers.Average()(outs))


model = create_model()
""", "model")


def test_sequential_from_the_sum_of_two_lists_of_layers() -> None:
    code = check(KERAS + """
N_CLASSES = 5

stem = [
    layers.Conv2D(4, (3, 3), padding="valid", input_shape=(10, 10, 1)),
    layers.Activation("relu"),
    layers.MaxPooling2D(pool_size=(2, 2)),
    layers.Flatten(),
]
head = [layers.Dense(8), layers.Activation("relu"), layers.Dropout(0.5),
        layers.Dense(N_CLASSES), layers.Activation("softmax")]
model = keras.Sequential(stem + head)
""", "model")
    assert "nn.Linear(4 * 4 * 4, 8)" in code  # the head is sized by the stem's output


FROZEN_STEM = KERAS + """
stem = [
    layers.Conv2D(4, (3, 3), input_shape=(8, 8, 2)),
    layers.BatchNormalization(),
    layers.Activation("relu"),
    layers.Flatten(),
]
head = [layers.Dense(6, activation="relu"), layers.Dense(3)]
model = keras.Sequential(stem + head)
print("first training would run here")
for layer in stem:
    layer.trainable = False
"""


def test_layers_of_a_list_frozen_after_the_model_was_built() -> None:
    code = check(FROZEN_STEM, "model")
    # the loop keeps its place (a freeze after a first training stays after it)
    assert code.index("first training") < code.index(
        'set_trainable(model, ("conv2d", "batch_normalization", "activation", "flatten"), '
        "False)")
    ns = exec_source(code, "k2l_converted")
    module = ns["model"]
    frozen = [p.requires_grad for n, p in module.named_parameters()
              if n.startswith(("conv2d.", "batch_normalization."))]
    trained = [p.requires_grad for n, p in module.named_parameters() if n.startswith("dense")]
    assert frozen and not any(frozen)
    assert trained and all(trained)


def test_frozen_batch_norm_stays_in_inference_mode_as_in_keras() -> None:
    keras_model = exec_source(textwrap.dedent(FROZEN_STEM), "k2l_original")["model"]
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 2)).astype("float32")
    # Keras: a frozen BatchNormalization runs in inference mode even when training
    assert np.allclose(keras.ops.convert_to_numpy(keras_model(x, training=True)),
                       keras.ops.convert_to_numpy(keras_model(x, training=False)), atol=1e-6)
    code = convert_source(textwrap.dedent(FROZEN_STEM), "model.py").source
    module = exec_source(code, "k2l_converted")["model"]
    norm = module.batch_normalization
    norm.running_mean.fill_(0.5)
    norm.running_var.fill_(2.0)
    module.train()  # what Lightning does at the start of every fit
    out = module(torch.as_tensor(x))
    assert torch.equal(norm.running_mean, torch.full_like(norm.running_mean, 0.5))
    module.eval()
    assert torch.allclose(out, module(torch.as_tensor(x)))


def test_statements_that_built_a_model_go_even_if_a_function_has_a_local_of_that_name() -> None:
    """``logits = mlp(obs, ...)`` built ``actor``; ``def act(): logits = actor(x)`` binds its
    own ``logits``: the module-level statement is not still needed by that function."""
    code = convert_source(textwrap.dedent(KERAS + """
obs = keras.Input(shape=(6,))
logits = layers.Dense(3)(obs)
actor = keras.Model(inputs=obs, outputs=logits)


def act(observation):
    logits = actor(observation)
    return logits.argmax(-1)


def last_logits():
    return logits
"""), "model.py").source
    assert "logits = layers.Dense(3)(obs)" in code  # last_logits() reads the module's own
    code = convert_source(textwrap.dedent(KERAS + """
obs = keras.Input(shape=(6,))
logits = layers.Dense(3)(obs)
actor = keras.Model(inputs=obs, outputs=logits)


def act(observation):
    logits = actor(observation)
    return logits.argmax(-1)
"""), "model.py").source
    assert "keras" not in code, code
    assert "logits = actor(observation)" in code


def _items(code: str, env: dict[str, object]) -> list[str] | None:
    from agent.rules.models import loops
    from agent.rules.values import code_of

    found = loops.item_nodes(cst.parse_expression(code), dict(env), {})
    return None if found is None else [code_of(n) for n in found]


def test_items_known_by_position() -> None:
    assert _items("(list(HIDDEN) + [n_out])[:-1]", {"HIDDEN": (4, 8)}) == ["4", "8"]
    assert _items("(list(HIDDEN) + [n_out])[1:]", {"HIDDEN": (4, 8)}) == ["8", "n_out"]
    assert _items("enumerate([a, 3])", {}) == ["(0, a)", "(1, 3)"]
    assert _items("sizes[:-1]", {}) is None  # a length nobody knows
    assert _items("[layers.Dense(4), layers.Dense(4)]", {}) is None  # two layers if repeated
