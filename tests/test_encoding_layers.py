"""Discretization and CategoryEncoding inside models, compared with Keras 3 (torch backend)
on integer and boundary inputs the random-float layer-table examples do not reach."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import numpy as np
import pytest
import torch
from tf_reference import tf_json

from agent.equivalence import exec_source
from agent.rules.convert import convert_source

pytestmark = pytest.mark.slow


def _both(layer: str, shape: tuple[int, ...], dtype: str) -> tuple[object, torch.nn.Module]:
    src = ("import keras\nfrom keras import layers\n\n"
           f"inp = keras.Input(shape={shape!r}, dtype={dtype!r})\n"
           f"model = keras.Model(inp, {layer}(inp))\n")
    result = convert_source(src, "enc.py")
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "keras" not in result.source
    original = exec_source(src, "k2l_original")["model"]
    converted = exec_source(result.source, "k2l_converted")["model"]
    return original, converted


@pytest.mark.parametrize("mode", ["multi_hot", "count", "one_hot"])
def test_category_encoding_matches_keras(mode: str) -> None:
    shape = (1,) if mode == "one_hot" else (4,)
    original, converted = _both(f'layers.CategoryEncoding(6, output_mode="{mode}")', shape,
                                "int32")
    x = np.array([[0, 5, 5, 2], [3, 3, 3, 3], [1, 0, 4, 2]], dtype=np.int32)[:, : shape[0]]
    want = np.asarray(original(x).cpu())  # type: ignore[operator]
    got = converted(torch.from_numpy(x)).numpy()
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.float32


def test_discretization_boundaries_go_up_as_keras() -> None:
    original, converted = _both("layers.Discretization(bin_boundaries=[-1.0, 0.0, 2.5])", (5,),
                                "float32")
    x = np.array([[-2.0, -1.0, 0.0, 2.5, 3.0], [-0.5, 0.5, 2.4, -1.1, 1e9]], dtype=np.float32)
    want = np.asarray(original(x).cpu())  # type: ignore[operator]
    got = converted(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got, want)
    assert got[0].tolist() == [0, 1, 2, 3, 3]  # a value on a boundary joins the upper bin


def test_discretization_without_bins_is_reported() -> None:
    src = ("import keras\nfrom keras import layers\n\n"
           "inp = keras.Input(shape=(3,))\n"
           "model = keras.Model(inp, layers.Discretization(num_bins=4)(inp))\n")
    result = convert_source(src, "enc.py")
    assert any("bin_boundaries" in u.reason for u in result.unmapped)


LOOKUP_INPUT = [[12, 5, 7, 36], [7, 0, 99, 12]]
LOOKUP_CASES = [
    # Keras 3 (its TensorFlow backend, test below): OOV → 0, vocabulary[i] → i + 1
    (None, [[1, 0, 3, 2], [3, 0, 0, 1]]),
    # a mask token takes 0 and moves OOV to 1, vocabulary[i] to i + 2
    (0, [[2, 1, 4, 3], [4, 0, 1, 2]]),
]


@pytest.mark.parametrize(("mask", "want"), LOOKUP_CASES)
def test_integer_lookup_indices(mask: int | None, want: list[list[int]]) -> None:
    extra = "" if mask is None else f", mask_token={mask}"
    src = ("import keras\nfrom keras import layers\n\n"
           'inp = keras.Input(shape=(4,), dtype="int64")\n'
           f"model = keras.Model(inp, layers.IntegerLookup(vocabulary=[12, 36, 7]{extra})(inp))\n")
    result = convert_source(src, "lookup.py")
    assert not result.unmapped, [u.reason for u in result.unmapped]
    converted = exec_source(result.source, "k2l_converted")["model"]
    got = converted(torch.tensor(LOOKUP_INPUT))
    assert got.dtype == torch.int64
    assert got.tolist() == want


@pytest.mark.parametrize("mask", [None, 0])
def test_integer_lookup_tables_are_keras_own(mask: int | None) -> None:
    """The tables above, from Keras 3 itself: its IntegerLookup needs TensorFlow, run in its
    own process (tests/tf_reference.py, ``make tf-venv``)."""
    script = ("import json, keras\n"
              f"layer = keras.layers.IntegerLookup(vocabulary=[12, 36, 7], mask_token={mask!r})\n"
              f"print(json.dumps(keras.ops.convert_to_numpy(layer({LOOKUP_INPUT!r})).tolist()))\n")
    assert tf_json(script) == dict(LOOKUP_CASES)[mask]


def test_integer_lookup_without_vocabulary_is_reported() -> None:
    src = ("import keras\nfrom keras import layers\n\n"
           'inp = keras.Input(shape=(3,), dtype="int64")\n'
           "model = keras.Model(inp, layers.IntegerLookup(num_oov_indices=2)(inp))\n")
    result = convert_source(src, "lookup.py")
    assert any("IntegerLookup" in u.reason for u in result.unmapped)
