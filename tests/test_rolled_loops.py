"""A builder loop over a parameter bound whose iterations are one helper call each (issue 9):
the class builds the blocks with the same loop (``for _ in range(depth)``), so every depth
builds the model Keras builds; checked against Keras 3 after weight porting for several
depths. Loops whose blocks differ per iteration, or whose bound another use needs, keep the
unrolled form and its assert."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap

import pytest

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from tests.test_models_graphs import KERAS, check

pytestmark = pytest.mark.slow

BLOCKS = KERAS + """

def mixer(x, width, rate=0.0):
    \"\"\"Dense, LayerNorm and a skip connection.\"\"\"
    h = layers.Dense(width, activation="relu")(x)
    h = layers.Dropout(rate)(h)
    h = layers.Dense(width)(h)
    x = layers.Add()([x, h])
    return layers.LayerNormalization()(x)


def build(width=6, depth=2):
    inputs = keras.Input(shape=(5,))
    x = layers.Dense(width)(inputs)
    for _ in range(depth):
        x = mixer(x, width, rate=0.1)
    return keras.Model(inputs, layers.Dense(2)(x))
"""


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_the_loop_builds_the_blocks_for_every_depth(depth: int) -> None:
    code = check(BLOCKS, f"build(depth={depth})")
    assert "for _ in range(depth)))" in code, code
    assert "assert depth" not in code, code


def test_no_assert_warning_once_the_loop_is_rolled() -> None:
    result = convert_source(textwrap.dedent(BLOCKS), "model.py")
    assert not any("asserts that value" in w.message for w in result.warnings), \
        result.warnings


def test_blocks_that_differ_per_iteration_keep_the_assert() -> None:
    code = check(KERAS + """

def block(x, units):
    h = layers.Dense(units, activation="relu")(x)
    return layers.Concatenate()([x, h])


def build(depth=2):
    inputs = keras.Input(shape=(3,))
    x = inputs
    for i in range(depth):
        x = block(x, 2 * (i + 1))
    return keras.Model(inputs, x)
""", "build()")
    assert 'assert depth == 2, "k2l: layers were unrolled for depth=2"' in code, code
    with pytest.raises(AssertionError):
        exec_source(code, "k2l_converted")["build"](depth=3)


def test_a_bound_also_read_by_a_branch_keeps_the_assert() -> None:
    code = check(BLOCKS.replace("    return keras.Model(inputs, layers.Dense(2)(x))", """\
    if depth > 1:
        x = layers.Dense(3)(x)
    return keras.Model(inputs, layers.Dense(2)(x))"""), "build()")
    assert 'assert depth == 2, "k2l: layers were' in code, code
    with pytest.raises(AssertionError):  # the branch was taken for 2 only
        exec_source(code, "k2l_converted")["build"](depth=3)


LAZY = KERAS + """

class Twice(layers.Layer):
    def call(self, x):
        return x * 2.0


def block(x, units=5):
    h = layers.LayerNormalization()(x)
    h = layers.Dense(units, activation="relu", kernel_initializer="he_normal")(h)
    h = layers.Dense(4)(h)
    return layers.Add()([x, h])


def build(depth=2):
    inputs = keras.Input(shape=(4,))
    x = Twice()(inputs)
    for _ in range(depth):
        x = block(x)
    return keras.Model(inputs, layers.Dense(2)(x))
"""


@pytest.mark.parametrize("depth", [1, 3])
def test_lazy_blocks_sized_by_the_dry_call_are_built_and_initialised_per_block(
        depth: int) -> None:
    """After a custom layer the sizes are unknown: the blocks hold nn.Lazy modules, sized by
    the dry call; the Keras initializers reach the modules of every block the loop built."""
    code = check(LAZY, f"build(depth={depth})")
    assert "for _ in range(depth)))" in code and "assert depth" not in code, code
    assert "for block_module in self.blocks:" in code, code  # he_normal of every block
    assert "isinstance(block_module, Block)" in code, code
    assert "self.blocks[" not in code, code
    module = exec_source(code, "k2l_converted")["build"](depth=depth)
    assert len(module.blocks) == depth


CHAIN = KERAS + """

def build(depth=3, width=4):
    inputs = keras.Input(shape=(5,))
    x = layers.Dense(width)(inputs)
    for _ in range(depth):
        x = layers.Dense(width, activation="relu")(x)
        x = layers.Dropout(0.1)(x)
    return keras.Model(inputs, layers.Dense(1)(x))


def build_seq(depth=2):
    model = keras.Sequential([keras.Input(shape=(3,))])
    for _ in range(depth):
        model.add(layers.Dense(6, activation="tanh"))
    model.add(layers.Dense(1))
    return model
"""


@pytest.mark.parametrize("call", ["build(depth=2)", "build(depth=4)", "build_seq(depth=1)",
                                  "build_seq(depth=3)"])
def test_a_chain_of_layers_over_a_parameter_bound_is_one_loop_built_module(call: str) -> None:
    """The body is layers only, and the input size is known: the runtime-loop form (one
    nn.Sequential built by the same loop, sized by the dry call, Keras's initializers)."""
    code = check(CHAIN, call)
    assert code.count("for _ in range(depth) for module in") == 2, code
    assert "assert depth" not in code, code
    result = convert_source(textwrap.dedent(CHAIN), "model.py")
    assert not result.warnings, result.warnings


def test_a_chain_without_a_known_input_size_stays_unrolled_and_asserted() -> None:
    code = check(KERAS + """

def build(depth=2):
    inputs = keras.Input(shape=(None, 3))
    x = layers.Dense(4)(inputs)
    for _ in range(depth):
        x = layers.Dense(4, activation="relu")(x)
    return keras.Model(inputs, x)
""", "build()")
    assert 'assert depth == 2, "k2l: layers were unrolled for depth=2"' in code, code
