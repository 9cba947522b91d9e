"""Hashing (runtime/hashing.py): FarmHash Fingerprint64 written in Python must give TF's hash
buckets. Keras 3's Hashing needs TensorFlow, so the bins are checked against the examples
Keras documents, against Keras itself in a TensorFlow process (``K2L_TEST_TF_PYTHON``), and
the converted model uses the same module."""

from __future__ import annotations

import json
import os
import subprocess

os.environ["KERAS_BACKEND"] = "torch"

import numpy as np
import pytest
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.rules.training.runtime.hashing import HashingBins, fingerprint64

INTS = [[3, 0, 41], [-7, 123456789, 3]]
# Keras 3 on TensorFlow gave these (checked by test_bins_are_keras_own below)
INT_BINS = {(11, None): [[4, 2, 4], [9, 9, 4]], (5, 0): [[2, 0, 3], [3, 3, 2]]}
# every FarmHash branch: lengths 0-16, 17-32, 33-64 and the 64-byte loop, once and more
WORDS = ["", "A", "ab", "abcd", "hello world", "x" * 16, "y" * 17, "z" * 32, "w" * 33,
         "v" * 64, "u" * 65, "t" * 128, "0123456789" * 29]


def test_documented_examples() -> None:
    """The outputs of Keras's Hashing docstring examples (FarmHash, 3 bins)."""
    assert HashingBins(3)([["A"], ["B"], ["C"], ["D"], ["E"]]).tolist() == [[1], [0], [1], [1],
                                                                            [2]]
    masked = HashingBins(3, mask_value="")([["A"], ["B"], [""], ["C"], ["D"]])
    assert masked.tolist() == [[1], [1], [0], [2], [2]]
    assert fingerprint64(b"") == 0x9AE16A3B2F90404F  # farmhashna: k2 for the empty string


@pytest.mark.parametrize(("bins", "mask"), list(INT_BINS))
def test_integer_bins(bins: int, mask: int | None) -> None:
    got = HashingBins(bins, mask_value=mask)(torch.tensor(INTS))
    assert got.dtype == torch.int64
    assert got.tolist() == INT_BINS[(bins, mask)]


def test_bins_are_keras_own() -> None:
    python = os.environ.get("K2L_TEST_TF_PYTHON", "")
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON)")
    script = ("import json, keras, tensorflow as tf\n"
              f"ints = [keras.ops.convert_to_numpy(keras.layers.Hashing(num_bins=b, mask_value=m)"
              f"({INTS!r})).tolist() for b, m in {list(INT_BINS)!r}]\n"
              f"words = tf.strings.to_hash_bucket_fast({WORDS!r}, 2**63 - 1).numpy().tolist()\n"
              "print(json.dumps([ints, words]))\n")
    done = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                               "KERAS_BACKEND": "tensorflow"}, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    ints, words = json.loads(done.stdout.strip().splitlines()[-1])
    assert ints == list(INT_BINS.values())
    assert [fingerprint64(w.encode()) % (2**63 - 1) for w in WORDS] == words


def test_model_with_hashing_converts() -> None:
    src = ("import keras\nfrom keras import layers\n\n"
           'ids = keras.Input(shape=(3,), dtype="int64")\n'
           "h = layers.Hashing(num_bins=11)(ids)\n"
           "x = layers.Flatten()(layers.Embedding(11, 2)(h))\n"
           "model = keras.Model(ids, layers.Dense(1)(x))\n")
    result = convert_source(src, "hashed.py")
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "keras" not in result.source
    model = exec_source(result.source, "k2l_converted")["model"]
    hashing = [m for m in model.modules() if type(m).__name__ == "HashingBins"]
    assert len(hashing) == 1
    assert hashing[0](torch.tensor(INTS)).tolist() == INT_BINS[(11, None)]
    assert model(torch.tensor(INTS)).shape == (2, 1)


def test_salt_is_reported() -> None:
    src = ("import keras\nfrom keras import layers\n\n"
           'ids = keras.Input(shape=(3,), dtype="int64")\n'
           "model = keras.Model(ids, layers.Hashing(num_bins=4, salt=7)(ids))\n")
    result = convert_source(src, "salted.py")
    assert any("salt" in u.reason for u in result.unmapped)
    assert "HashingBins" not in result.source


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError):
        HashingBins(4)(np.array([1.5]))


def test_string_input_model_hashes_strings_as_keras() -> None:
    """A string Input: torch tensors hold no strings, so the class takes an array of str (the
    report says so) and gives the bins of Keras's documented example."""
    src = ("import keras\nfrom keras import layers\n\n"
           'words = keras.Input(shape=(1,), dtype="string")\n'
           "model = keras.Model(words, layers.Hashing(num_bins=3)(words))\n")
    result = convert_source(src, "words.py")
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert any("lists of str" in w.message for w in result.warnings)
    model = exec_source(result.source, "k2l_converted")["model"]
    got = model(np.array([["A"], ["B"], ["C"], ["D"], ["E"]]))
    assert got.tolist() == [[1], [0], [1], [1], [2]]
    assert model.example_input_array.dtype == torch.long
