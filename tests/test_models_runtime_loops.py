"""Loops whose bound is known only at run time (issue 9 point 7).

``for units in hidden_units: x = Dense(units)(x)`` in a builder whose calls pass values the
rules cannot read (several configurations, a grid search) cannot be unrolled: the loop
becomes one ``nn.Sequential`` built by the same loop, its sized layers lazy. Each program is
built with Keras for two configurations and compared with the converted class built with
the same arguments (weights ported, outputs compared).
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap

import pytest

from agent.rules.convert import convert_source
from tests.test_models_graphs import KERAS, check

pytestmark = pytest.mark.slow

FUNCTIONAL = KERAS + """
def build(hidden_units, dropout_rate, num_classes=3):
    inputs = keras.Input(shape=(10,))
    x = layers.Dense(16, activation="relu")(inputs)
    for units in hidden_units:
        x = layers.Dense(units, activation="gelu")(x)
        x = layers.Dropout(dropout_rate)(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


CONFIGS = [[8], [8, 4]]
models = [build(c, 0.1) for c in CONFIGS]
"""

SEQUENTIAL = KERAS + """
def make_model(dense_layer_sizes, units, rate=0.5):
    model = keras.Sequential()
    model.add(layers.Flatten(input_shape=(6, 6)))
    for layer_size in dense_layer_sizes:
        model.add(layers.Dense(layer_size))
        model.add(layers.Activation("relu"))
        model.add(layers.Dropout(rate))
    model.add(layers.Dense(units))
    return model


GRID = {"dense_layer_sizes": [[12], [10, 7, 5]]}
models = [make_model(sizes, 4) for sizes in GRID["dense_layer_sizes"]]
"""


@pytest.mark.parametrize("src", [FUNCTIONAL, SEQUENTIAL], ids=["functional", "sequential"])
@pytest.mark.parametrize("which", [0, 1])
def test_loop_with_run_time_bound_builds_each_configuration(src: str, which: int) -> None:
    code = check(src, f"models[{which}]")
    assert "nn.Sequential(" in code and "nn.LazyLinear(" in code, code
    assert "unrolled for" not in code


def test_initializer_by_names_run_after_the_dry_call() -> None:
    """The input size is known: the dry call sizes the loop's modules, then each gets the
    initializer its Keras layer had (the Dense kernels' he_normal, by position)."""
    result = convert_source(textwrap.dedent(FUNCTIONAL.replace(
        'layers.Dense(units, activation="gelu")',
        'layers.Dense(units, activation="gelu", kernel_initializer="he_normal")')))
    code = result.source
    assert "if index % 3 == 0 and isinstance(layer, nn.Linear):" in code, code
    # Keras's he_normal: a truncated normal scaled by the fan-in
    assert "nn.init.trunc_normal_(layer.weight.data" in code, code
    assert not any("run time" in w.message for w in result.warnings), result.warnings


def test_without_an_input_size_the_report_says_torch_initializes_the_loop() -> None:
    src = FUNCTIONAL.replace("keras.Input(shape=(10,))", "keras.Input(shape=(None, 10))")
    code = check(src, "models[1]")
    assert "self.eval()" not in code  # no dry call: an input size is unknown
    result = convert_source(textwrap.dedent(src))
    assert any("over hidden_units, a bound known only at run time" in w.message
               and "Keras initializers not reproduced" in w.message
               for w in result.warnings), result.warnings


def test_a_body_that_is_not_a_chain_of_layers_is_left_alone() -> None:
    """A layer that needs its input's rank (Conv2D) has no last-axis form: not this rule."""
    src = textwrap.dedent(KERAS + """
def build(filters):
    inputs = keras.Input(shape=(8, 8, 3))
    x = inputs
    for f in filters:
        x = layers.Conv2D(f, 3)(x)
    return keras.Model(inputs, x)


a = build([2])
b = build([3, 4])
""")
    result = convert_source(src)
    assert "for f in filters:" in result.source
    assert not any("run time" in w.message for w in result.warnings)


HELPER = KERAS + """
def mlp(x, hidden_units, dropout_rate):
    for units in hidden_units:
        x = layers.Dense(units, activation="gelu")(x)
        x = layers.Dropout(dropout_rate)(x)
    return x


def block(width, mlp_units, dropout_rate):
    inputs = keras.Input((5, width))
    x = layers.LayerNormalization(epsilon=1e-6)(inputs)
    x = mlp(x, hidden_units=mlp_units, dropout_rate=dropout_rate)
    return keras.Model(inputs, layers.Add()([inputs, layers.Dense(width)(x)]))


SETTINGS = {"mlp_units": [12, 6]}
models = [block(4, SETTINGS["mlp_units"], 0.1), block(4, [3], 0.2)]
"""


@pytest.mark.parametrize("which", [0, 1])
def test_loop_inside_an_inlined_helper_over_the_builders_parameter(which: int) -> None:
    code = check(HELPER, f"models[{which}]")
    assert "for units in mlp_units for module in" in " ".join(code.split()), code


CHOICE = KERAS + """
def head(hidden_units, rate):
    inputs = keras.Input((6,))
    x = inputs
    for idx, units in enumerate(hidden_units):
        x = layers.Dense(units, activation="tanh" if idx == 0 else None)(x)
        x = layers.Dropout(rate)(x)
    return keras.Model(inputs, x)


models = [head([5, 4, 3], 0.1), head([7], 0.2)]
"""


@pytest.mark.parametrize("which", [0, 1])
def test_layer_argument_chosen_by_the_loop_index(which: int) -> None:
    """``activation=... if idx == 0 else None``: the activation module is chosen per
    iteration (``nn.Identity()`` where the branch has none)."""
    code = check(CHOICE, f"models[{which}]")
    assert "(nn.Tanh() if idx == 0 else nn.Identity())" in code, code
