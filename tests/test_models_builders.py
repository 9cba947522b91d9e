"""Builder functions as people write them (issue 9 points 6 and 7).

A builder that returns a Sequential made from a list it fills in a loop, called as a layer
from another builder (``block(units)(x)``); lists of layers and of tensors; call-site
values that reach a builder through the builder that calls it. Each program is converted,
both sides built (Keras 3 on torch as the reference), weights ported, outputs compared.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import inspect
import textwrap

import pytest

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from tests.test_models_graphs import KERAS, check

pytestmark = pytest.mark.slow

FFN = KERAS + """
HIDDEN = [16, 12]
NUM_FEATURES = 8


def make_ffn(hidden_units, dropout_rate, name=None):
    ffn_layers = []
    for units in hidden_units:
        ffn_layers.append(layers.BatchNormalization())
        ffn_layers.append(layers.Dropout(dropout_rate))
        ffn_layers.append(layers.Dense(units, activation="gelu"))
    return keras.Sequential(ffn_layers, name=name)


def make_classifier(hidden_units, num_classes, dropout_rate=0.2):
    inputs = layers.Input(shape=(NUM_FEATURES,))
    x = make_ffn(hidden_units, dropout_rate, name="first_block")(inputs)
    for block_idx in range(2):
        skip = make_ffn(hidden_units, dropout_rate)(x)
        x = layers.Add()([x, skip])
    logits = layers.Dense(num_classes)(x)
    return keras.Model(inputs=inputs, outputs=logits)


model = make_classifier(HIDDEN, 3, 0.1)
"""


def test_builder_of_a_sequential_from_appends_used_as_a_layer() -> None:
    code = check(FFN, "model")
    # one class for the block, instantiated through its builder three times
    assert code.count("(pl.LightningModule)") == 2
    assert code.count("= make_ffn(hidden_units, dropout_rate") == 3
    # the loop over the builder's list ran for the value the only outer call passes
    assert 'assert hidden_units == [16, 12], "k2l: layers were unrolled' in code
    # the block's output size, in the caller's terms, sizes the next layer
    assert "nn.Linear(12, num_classes)" in code


def test_block_builder_asserts_the_list_it_was_unrolled_for() -> None:
    ns = exec_source(convert_source(textwrap.dedent(FFN), "model.py").source, "k2l_converted")
    ns["make_ffn"]([16, 12], 0.1)
    with pytest.raises(AssertionError):
        ns["make_ffn"]([8], 0.1)


def test_sequential_from_a_list_literal_and_appends() -> None:
    code = check(KERAS + """
def build(width=6):
    stack = [keras.Input(shape=(5,)), layers.Dense(width, activation="relu")]
    for _ in range(2):
        stack.append(layers.Dense(width))
    stack.append(layers.Dense(2, activation="softmax"))
    return keras.Sequential(stack)


model = build()
""", "model")
    assert "stack" not in code


def test_list_of_tensors_concatenated() -> None:
    check(KERAS + """
FEATURES = 3


def build():
    inputs = keras.Input(shape=(FEATURES, 4))
    encoded = []
    for k in range(FEATURES):
        encoded.append(layers.Dense(2, name=f"enc_{k}")(inputs[:, k, :]))
    merged = layers.concatenate(encoded)
    parts = [merged, layers.Dense(3)(merged)]
    out = layers.Concatenate()(parts)
    return keras.Model(inputs, out)


model = build()
""", "model")


def test_call_values_reach_a_builder_through_its_caller() -> None:
    """``outer(SIZES)`` calls ``inner(sizes)``: inside ``outer`` the name ``sizes`` is its
    parameter, whose only value is SIZES, never a module name it happens to shadow."""
    src = KERAS + """
SIZES = [3, 5]
sizes = [7]


def tower(sizes, x):
    for s in sizes:
        x = layers.Dense(s)(x)
    return x


def outer(sizes):
    inputs = keras.Input(shape=(4,))
    return keras.Model(inputs, tower(sizes, inputs))


model = outer(SIZES)
"""
    code = check(src, "model")
    assert "nn.Linear(4, 3)" in code and "nn.Linear(3, 5)" in code
    assert "nn.Linear(4, 7)" not in code


def test_a_builder_that_stays_keras_is_not_used_as_a_converted_layer() -> None:
    """A block builder the rules cannot convert keeps its Keras code; the model calling it
    must not pretend it is a torch module."""
    result = convert_source(textwrap.dedent(KERAS + """
def block(n):
    stack = []
    for _ in range(n):
        stack.append(layers.Dense(4))
    return keras.Sequential(stack)


def build(n):
    inputs = keras.Input(shape=(4,))
    return keras.Model(inputs, block(n)(inputs))


model = build(int(input()))
"""), "model.py")
    assert "keras.Sequential(stack)" in result.source
    assert result.unmapped


DICT_INPUTS = KERAS + """
NUMERIC = ["age", "hours-per-week"]
CATEGORIES = {"color": 5, "shape": 3}


def build(units=8):
    inputs = {name: layers.Input(name=name, shape=(1,)) for name in NUMERIC}
    for name in CATEGORIES:
        inputs[name] = layers.Input(name=name, shape=(), dtype="int32")
    encoded = []
    for name in NUMERIC:
        encoded.append(layers.Dense(units)(inputs[name]))
    for name, size in CATEGORIES.items():
        encoded.append(layers.Embedding(size, units)(inputs[name]))
    x = layers.concatenate(encoded)
    out = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs=inputs, outputs=out)


model = build()
"""


def test_dict_of_inputs_by_feature_name() -> None:
    """Inputs in a dict (comprehension, then keyed assignments in a loop over a dict
    constant), read by key, encoded into a list that is concatenated."""
    code = check(DICT_INPUTS, "model")
    assert "inputs" not in code.split("class Build")[1].split("def build")[0]
    # forward takes the tensors by name, in the order Keras flattens the dict (its keys
    # sorted): a positional call means the same on both sides
    ns = exec_source(code, "k2l_converted")
    names = list(inspect.signature(ns["model"].forward).parameters)
    original = exec_source(textwrap.dedent(DICT_INPUTS), "k2l_original")["model"]
    assert [t.name for t in original.inputs] == ["age", "color", "hours-per-week", "shape"]
    assert names == ["age", "color", "hours_per_week", "shape"]


def test_layer_list_also_used_outside_the_model_is_not_split_from_it() -> None:
    """``names = [layer.name for layer in features]`` after ``Sequential(features)``:
    converting would leave that code reading Keras layers no model uses any more (a loop
    that only sets ``trainable`` is rewritten instead: tests/test_models_lists.py)."""
    result = convert_source(textwrap.dedent(KERAS + """
features = [keras.Input(shape=(4,)), layers.Dense(3)]
model = keras.Sequential(features)
names = [layer.name for layer in features]
"""), "model.py")
    assert "keras.Sequential(features)" in result.source
    assert any("features is also read outside the model" in u.reason
               for u in result.unmapped), result.unmapped


def test_branch_on_a_builder_parameter_follows_the_call_value() -> None:
    src = KERAS + """
def build(width, use_norm=False, residual=True):
    inputs = keras.Input(shape=(width,))
    x = layers.Dense(width)(inputs)
    if use_norm:
        x = layers.LayerNormalization()(x)
    else:
        x = layers.Activation("relu")(x)
    if residual and width > 2:
        x = layers.Add()([x, inputs])
    return keras.Model(inputs, x)


model = build(4, use_norm=True)
"""
    code = check(src, "model")
    assert "nn.LayerNorm(" in code and "F.relu" not in code
    assert 'assert use_norm is True, "k2l: layers were chosen for use_norm=True"' in code
    ns = exec_source(code, "k2l_converted")
    with pytest.raises(AssertionError):
        ns["build"](4, use_norm=False)


def test_branch_that_builds_nothing_asserts_nothing() -> None:
    code = convert_source(textwrap.dedent(KERAS + """
def build(verbose=False):
    inputs = keras.Input(shape=(3,))
    if verbose:
        print("building")
    return keras.Model(inputs, layers.Dense(2)(inputs))


model = build()
"""), "model.py").source
    assert "class Build" in code and "assert verbose" not in code


def test_layers_made_in_a_comprehension_applied_in_a_loop() -> None:
    code = check(KERAS + """
UNITS = [6, 5, 4]


def build():
    inputs = keras.Input(shape=(3,))
    blocks = [layers.Dense(u, activation="tanh") for u in UNITS]
    extra = []
    extra.append(layers.Dense(2))
    x = inputs
    for block in blocks:
        x = block(x)
    for block in extra:
        x = block(x)
    return keras.Model(inputs, x)


model = build()
""", "model")
    assert code.count("nn.Linear(") == 4 and "blocks" not in code


def test_inputs_made_in_a_loop_each_get_a_forward_parameter() -> None:
    code = check(KERAS + """
BAG = 3


def build():
    inputs, embeddings = [], []
    shared = layers.Dense(4, activation="relu")
    for _ in range(BAG):
        inp = layers.Input((5,))
        inputs.append(inp)
        embeddings.append(shared(inp))
    x = layers.concatenate(embeddings)
    y = layers.Dense(2)(inputs[0])
    return keras.Model(inputs, [layers.Dense(1)(x), y])


model = build()
""", "model")
    signature = " ".join(code.split("def forward(")[1].split(")")[0].split())
    assert signature == ("self, inp: torch.Tensor, inp_2: torch.Tensor, inp_3: torch.Tensor,"), \
        signature


def test_dict_of_inputs_from_a_helper_function() -> None:
    code = check(KERAS + """
NUMERIC = ["height", "weight"]
EXTRA = ["age"]


def create_model_inputs():
    inputs = {}
    for feature in NUMERIC + EXTRA:
        if feature in NUMERIC:
            inputs[feature] = layers.Input(name=feature, shape=(1,))
        else:
            inputs[feature] = layers.Input(name=feature, shape=(2,))
    return inputs


def create_model(units=4):
    inputs = create_model_inputs()
    features = layers.concatenate([inputs[f] for f in NUMERIC] + [inputs["age"]])
    both = layers.Concatenate()([inputs[f] for f in NUMERIC])
    out = layers.Dense(units)(features)
    return keras.Model(inputs=inputs, outputs=[out, layers.Dense(1)(both)])


model = create_model()
""", "model")
    assert "def create_model_inputs" not in code
    assert "nn.Linear(1 + 1 + 2, units)" in code or "nn.Linear(4, units)" in code
