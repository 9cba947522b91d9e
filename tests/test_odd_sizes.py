"""Index and size arithmetic the rules write must be right for every size, odd ones included.

Sizes written as expressions of a builder's parameters (``units // 2``) are spliced into
generated code; these programs use odd sizes, where a missing parenthesis shows.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap

import keras
import pytest

from agent.equivalence import compare, exec_source
from agent.rules.arith import binop, operand
from agent.rules.convert import convert_source
from agent.tf_shim import install

KERAS = "import keras\nfrom keras import layers\n\n"


def check(src: str, builder: str = "model") -> str:
    """Convert, build both sides with the same weights, compare outputs; the converted code."""
    result = convert_source(src, "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    call = (lambda ns: eval(builder, ns)) if "(" in builder else (lambda ns: ns[builder])
    original = call(exec_source(src, "k2l_original"))
    converted = call(exec_source(result.source, "k2l_converted"))
    eq = compare(original, converted)
    assert eq.passed, f"{eq.message}\n{result.source}"
    return result.source

# ------------------------------------------------------------------- the helper, by value


@pytest.mark.parametrize("left", ["u // 2", "u - 1", "u * 3", "-u", "u ** 2", "(u + 1)",
                                  "u | 6", "f(u)", "u[1]", "u if u else 3", "(u) + (1)"])
@pytest.mark.parametrize("symbol", ["+", "-", "*", "//", "%", "**"])
@pytest.mark.parametrize("right", ["v // 2", "v - 1", "v", "-v", "v ** 2", "(v - 2)"])
def test_binop_means_what_the_values_mean(left: str, symbol: str, right: str) -> None:
    env = {"f": lambda x: x + 7, "u": 33, "v": 5}
    env["u"] = [4, 33, 9] if "u[" in left else 33
    expected = eval(f"({left}) {symbol} ({right})", env)
    assert eval(binop(left, symbol, right), env) == expected


def test_operand_keeps_simple_code_as_it_is() -> None:
    assert operand("units", "*") == "units"
    assert operand("units * 2", "+") == "units * 2"
    assert operand("units // 2", "*", right=True) == "(units // 2)"
    assert binop(2, "*", "units // 2") == "2 * (units // 2)"


# ------------------------------------------------------------------- whole models, numbers

def test_lstm_forget_gate_with_odd_units_expression() -> None:
    code = check(KERAS + textwrap.dedent("""
        def build_model(units=67):  # units // 2 == 33
            inputs = keras.Input(shape=(7, 4))
            x = layers.LSTM(units // 2)(inputs)
            return keras.Model(inputs, layers.Dense(3)(x))
        """), "build_model()")
    # the gate slice reads the module's own size: no precedence trap with ``units // 2``
    assert ".hidden_size:2 * " in code and "2 * units // 2" not in code


def test_lstm_33_units_literal() -> None:
    check(KERAS + """
model = keras.Sequential([keras.Input(shape=(6, 5)), layers.LSTM(33, return_sequences=True),
                          layers.LSTM(5), layers.Dense(1)])
""")


def test_bidirectional_lstm_odd_units_expression() -> None:
    check(KERAS + textwrap.dedent("""
        def build_model(width=11):
            inputs = keras.Input(shape=(5, 3))
            x = layers.Bidirectional(layers.LSTM(width - 2, return_sequences=True))(inputs)
            return keras.Model(inputs, layers.Dense(2)(x))
        """), "build_model()")


@pytest.mark.parametrize("layer", ["layers.DepthwiseConv2D(3, depth_multiplier=3)",
                                   "layers.SeparableConv2D(filters, 3, depth_multiplier=2)"])
def test_depthwise_and_separable_with_expression_channels(layer: str) -> None:
    code = check(KERAS + textwrap.dedent(f"""
        def build_model(filters=5):
            inputs = keras.Input(shape=(9, 9, 3))
            x = layers.Conv2D(filters - 2, 3, padding="same")(inputs)
            x = {layer}(x)
            x = layers.GlobalAveragePooling2D()(x)
            return keras.Model(inputs, layers.Dense(4)(x))
        """), "build_model()")
    assert "(filters - 2) * " in code


def test_odd_filters_and_kernel_sizes() -> None:
    check(KERAS + """
model = keras.Sequential([keras.Input(shape=(11, 13, 3)),
                          layers.Conv2D(5, 3, strides=2, padding="same", activation="relu"),
                          layers.Conv2D(7, 5, padding="same"), layers.MaxPooling2D(3),
                          layers.Flatten(), layers.Dense(9)])
""")
