"""Hashing (runtime/hashing.py): FarmHash Fingerprint64 and, with a salt, SipHash-2-4 written in
Python must give TF's hash buckets. Keras 3's Hashing needs TensorFlow, so the bins are checked
against the examples Keras documents, against Keras itself in a TensorFlow process
(tests/tf_reference.py), and the converted model uses the same module."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import numpy as np
import pytest
import torch
from tf_reference import tf_json

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.rules.training.runtime.hashing import HashingBins, fingerprint64, siphash24

INTS = [[3, 0, 41], [-7, 123456789, 3]]
# Keras 3 on TensorFlow gave these (checked by test_bins_are_keras_own below)
INT_BINS = {(11, None): [[4, 2, 4], [9, 9, 4]], (5, 0): [[2, 0, 3], [3, 3, 2]]}
# every FarmHash branch: lengths 0-16, 17-32, 33-64 and the 64-byte loop, once and more
WORDS = ["", "A", "ab", "abcd", "hello world", "x" * 16, "y" * 17, "z" * 32, "w" * 33,
         "v" * 64, "u" * 65, "t" * 128, "0123456789" * 29]
# every SipHash length class: the tail alone (0-7 bytes), one word and a tail (8-15), one word
# exactly (8), two and more (16, 17, 40, 290)
SIP_WORDS = ["", "A", "abcdefg", "abcdefgh", "abcdefghi", "x" * 15, "y" * 16, "z" * 17,
             "w" * 40, "0123456789" * 29]
SALTS = [133, [133, 137], [7, 2**40 + 3]]  # Keras: an int salt is [salt, salt]
# Keras 3 on TensorFlow gave these (checked by test_bins_are_keras_own below)
SALTED_INT_BINS = {(11, 133, None): [[2, 5, 5], [6, 5, 2]],
                   (5, (133, 137), 0): [[1, 0, 4], [1, 1, 1]]}


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
    """Keras's layer with and without salt, TF's ``to_hash_bucket_fast`` and, for every length
    class and both salt forms, ``to_hash_bucket_strong``: one TensorFlow process."""
    keys = [[s, s] if isinstance(s, int) else s for s in SALTS]
    script = ("import json, keras, tensorflow as tf\n"
              "def bins(**kw):\n"
              f"    return keras.ops.convert_to_numpy(keras.layers.Hashing(**kw)({INTS!r})).tolist()\n"
              f"ints = [bins(num_bins=b, mask_value=m) for b, m in {list(INT_BINS)!r}]\n"
              f"salted = [bins(num_bins=b, salt=s, mask_value=m) "
              f"for b, s, m in {list(SALTED_INT_BINS)!r}]\n"
              f"fast = tf.strings.to_hash_bucket_fast({WORDS!r}, 2**63 - 1).numpy().tolist()\n"
              f"strong = [tf.strings.to_hash_bucket_strong({SIP_WORDS!r}, 2**63 - 1, key=k)"
              f".numpy().tolist() for k in {keys!r}]\n"
              "print(json.dumps([ints, salted, fast, strong]))\n")
    ints, salted, fast, strong = tf_json(script)
    assert ints == list(INT_BINS.values())
    assert salted == list(SALTED_INT_BINS.values())
    assert [fingerprint64(w.encode()) % (2**63 - 1) for w in WORDS] == fast
    mine = [[siphash24((k[0], k[1]), w.encode()) % (2**63 - 1) for w in SIP_WORDS] for k in keys]
    assert mine == strong


def test_siphash_reference_vectors() -> None:
    """The SipHash-2-4 paper's vectors: key bytes 0..15, messages bytes 0..n-1."""
    key = (int.from_bytes(bytes(range(8)), "little"), int.from_bytes(bytes(range(8, 16)), "little"))
    assert siphash24(key, b"") == 0x726FDB47DD0E0E31
    assert siphash24(key, bytes(range(15))) == 0xA129CA6149BE45E5


def test_documented_salted_examples() -> None:
    """Keras's Hashing docstring examples with a salt (3 bins), both salt forms."""
    words = [["A"], ["B"], ["C"], ["D"], ["E"]]
    assert HashingBins(3, salt=[133, 137])(words).tolist() == [[1], [2], [1], [0], [2]]
    assert HashingBins(3, salt=133)(words).tolist() == [[0], [0], [2], [1], [0]]
    assert HashingBins(3, salt=133)(words).tolist() == HashingBins(3, salt=(133, 133))(words).tolist()


@pytest.mark.parametrize(("bins", "salt", "mask"), list(SALTED_INT_BINS))
def test_salted_integer_bins(bins: int, salt: int | tuple[int, int], mask: int | None) -> None:
    got = HashingBins(bins, mask_value=mask, salt=salt)(torch.tensor(INTS))
    assert got.tolist() == SALTED_INT_BINS[(bins, salt, mask)]


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


def test_salted_model_converts() -> None:
    src = ("import keras\nfrom keras import layers\n\n"
           'ids = keras.Input(shape=(3,), dtype="int64")\n'
           "model = keras.Model(ids, layers.Hashing(num_bins=11, salt=133)(ids))\n")
    result = convert_source(src, "salted.py")
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "HashingBins(11, salt=133)" in result.source
    model = exec_source(result.source, "k2l_converted")["model"]
    assert model(torch.tensor(INTS)).tolist() == SALTED_INT_BINS[(11, 133, None)]


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
