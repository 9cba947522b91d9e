"""String tensors (torch has none: NumPy string arrays) and a custom layer's compute_mask
(converted with the op table like any helper method, so the class holds no TF code)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import textwrap

import keras
import libcst as cst
import numpy as np
import pytest
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.rules.ops.string_values import is_string
from tests.test_ops import conv


@pytest.mark.parametrize(("code", "expected"), [
    ('"a b"', True), ('f"{x} b"', True), ('"[start] " + s + " [end]"', True),
    ('s + "!"', True), ("str(n)", True), ('" ".join(words)', True), ('["a", "b"]', True),
    ('("a", f"{b}")', True), ('b"bytes"', False), ("s", False), ("[1, 2]", False),
    ('["a", 1]', False), ("x + y", False), ("words.join(x)", False), ("len(s)", False),
])
def test_string_forms(code: str, expected: bool) -> None:
    assert is_string(cst.parse_expression(code)) is expected


@pytest.mark.parametrize(("before", "after"), [
    ('tf.constant("[start] " + s)', 'np.asarray("[start] " + s)'),
    ('tf.convert_to_tensor(["a b", "c"])', 'np.asarray(["a b", "c"])'),
    ("tf.constant(s)", "torch.as_tensor(s)"),  # not known to be a string: a tensor as before
])
def test_string_constants_become_string_arrays(before: str, after: str) -> None:
    assert conv(before) == (after, [])


def test_string_constant_to_a_number_dtype_is_reported() -> None:
    _, problems = conv('tf.constant("3", dtype=tf.int32)')
    assert problems and "string" in problems[0]


def test_string_array_is_what_tf_constant_holds() -> None:
    """Shape and values of the converted value equal TF's string tensor's (read through
    NumPy: the strings a text layer receives)."""
    for value in ("[start] go", ["a b", "c"]):
        converted = np.asarray(value)
        assert converted.shape == np.shape(value) and converted.tolist() == value


MASKING_LAYER = """
import keras
from keras import layers


class TokenAndMask(layers.Layer):
    def __init__(self, vocab, dim, **kwargs):
        super().__init__(**kwargs)
        self.embed = layers.Embedding(vocab, dim)

    def call(self, inputs):
        return self.embed(inputs)

    def compute_mask(self, inputs, mask=None):
        return keras.ops.not_equal(inputs, 0)
"""


def test_compute_mask_is_converted_with_the_class() -> None:
    result = convert_source(textwrap.dedent(MASKING_LAYER), "model.py")
    assert "import keras" not in result.source and "keras." not in result.source, \
        result.source
    assert "def compute_mask(self, inputs, mask=None):" in result.source


def test_compute_mask_is_numerically_keras() -> None:
    original = exec_source(MASKING_LAYER, "k2l_mask_original")["TokenAndMask"](9, 3)
    converted = exec_source(convert_source(MASKING_LAYER, "model.py").source,
                            "k2l_mask_converted")["TokenAndMask"](9, 3)
    tokens = np.array([[3, 0, 5, 0], [0, 0, 1, 8]])
    expected = keras.ops.convert_to_numpy(original.compute_mask(tokens))
    got = converted.compute_mask(torch.as_tensor(tokens))
    assert got.dtype == torch.bool
    np.testing.assert_array_equal(got.numpy(), expected)
