"""Values read off a shape are ints in torch, tensors in TF (agent/rules/ops/shape_ints.py):
the causal-mask idiom of Keras transformer decoders (``expand_dims`` of the batch size,
``concatenate``, ``tile`` by the result) runs converted and gives Keras's mask."""

from __future__ import annotations

import textwrap

import keras
import numpy as np
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.rules.ops.shape_ints import tensor_shape_values

SOURCE = textwrap.dedent("""
    import keras
    from keras import layers, ops


    class CausalMask(layers.Layer):
        def call(self, inputs):
            input_shape = ops.shape(inputs)
            batch_size, sequence_length = input_shape[0], input_shape[1]
            i = ops.arange(sequence_length)[:, None]
            j = ops.arange(sequence_length)
            mask = ops.cast(i >= j, dtype="int32")
            mask = ops.reshape(mask, (1, input_shape[1], input_shape[1]))
            mult = ops.concatenate(
                [ops.expand_dims(batch_size, -1), ops.convert_to_tensor([1, 1], dtype="int32")],
                axis=0,
            )
            return ops.tile(mask, mult)
""")


def test_the_causal_mask_runs_converted_and_equals_keras() -> None:
    done = convert_source(SOURCE, "mask.py")
    assert "keras" not in done.source
    assert "torch.unsqueeze(torch.as_tensor(batch_size), dim=-1)" in done.source
    assert "torch.tile(mask, tuple(mult.tolist()))" in done.source
    x = np.random.default_rng(0).normal(size=(3, 5, 2)).astype("float32")
    ours = exec_source(done.source, "k2l_shape_ints")["CausalMask"]()(torch.as_tensor(x))
    theirs = exec_source(SOURCE, "k2l_shape_ints_keras")["CausalMask"]()(keras.ops.array(x))
    assert np.array_equal(ours.numpy(), keras.ops.convert_to_numpy(theirs))
    assert ours.shape == (3, 5, 5)


def test_only_names_bound_once_from_a_shape_are_wrapped() -> None:
    code = textwrap.dedent("""
        import torch


        def f(x, n):
            b = x.shape[0]
            rows = torch.unsqueeze(b, dim=-1)
            cols = torch.unsqueeze(n, dim=-1)
            k = x.shape[1]
            k = torch.ones(3)
            return rows, cols, torch.unsqueeze(k, dim=0), torch.tile(x, n)
    """)
    out = tensor_shape_values(code)
    assert "torch.unsqueeze(torch.as_tensor(b), dim=-1)" in out
    assert "torch.unsqueeze(n, dim=-1)" in out  # a parameter: may well be a tensor
    assert "torch.unsqueeze(k, dim=0)" in out  # rebound: no fact
    assert "torch.tile(x, n)" in out  # not made by torch.cat/stack here
    assert tensor_shape_values("y = torch.tile(x, (2, 1))\n") == "y = torch.tile(x, (2, 1))\n"


KERAS_OPS = textwrap.dedent("""
    import keras
    from keras import layers, ops


    class Spread(layers.Layer):
        def call(self, x):
            b = ops.shape(x)[0]
            n = ops.shape(x)[1]
            size = ops.stack([b, n])
            top = ops.cast(ops.maximum(b, n), "float32")
            low = ops.cast(ops.minimum(b, n), "float32")
            ones = ops.ones((b, n))
            return x[:, :, 0] * top - low + ones + ops.cast(ops.sum(size), "float32")
""")


def test_stack_maximum_minimum_of_shape_ints_run_converted_and_equal_keras() -> None:
    done = convert_source(KERAS_OPS, "spread.py")
    assert "keras" not in done.source
    assert "size = torch.as_tensor([b, n])" in done.source, done.source
    assert "torch.maximum(torch.as_tensor(b), torch.as_tensor(n))" in done.source
    assert "torch.minimum(torch.as_tensor(b), torch.as_tensor(n))" in done.source
    x = np.random.default_rng(1).normal(size=(3, 5, 2)).astype("float32")
    ours = exec_source(done.source, "k2l_spread")["Spread"]()(torch.as_tensor(x))
    theirs = exec_source(KERAS_OPS, "k2l_spread_keras")["Spread"]()(keras.ops.array(x))
    np.testing.assert_allclose(ours.numpy(), keras.ops.convert_to_numpy(theirs), rtol=1e-6)


TF_SIZES = textwrap.dedent("""
    import tensorflow as tf
    from tensorflow.keras import layers


    class Fill(layers.Layer):
        def call(self, x):
            b = tf.shape(x)[0]
            n = tf.shape(x)[1]
            size = tf.stack([b, n])
            zeros = tf.zeros(size)
            ones = tf.ones(tf.stack([b, 1]))
            twos = tf.fill(tf.stack([b, n]), 2.0)
            noise = tf.random.normal(tf.stack([b, n]))
            flat = tf.reshape(x, tf.stack([b, -1]))
            return zeros + ones + twos + 0.0 * noise, flat
""")


def test_size_vectors_given_to_creation_ops_are_tuples() -> None:
    """TF (and Keras 2) take a 1-D int tensor as a shape; torch and Keras 3's torch backend
    want a tuple of ints. Expected values from NumPy: TF is not installed here."""
    done = convert_source(TF_SIZES, "fill.py")
    assert "tensorflow" not in done.source, done.source
    assert "torch.zeros(tuple(size.tolist()), device=x.device)" in done.source, done.source
    assert "torch.ones((b, 1)" in done.source
    assert "torch.full((b, n), 2.0" in done.source
    x = np.random.default_rng(2).normal(size=(3, 5, 2)).astype("float32")
    total, flat = exec_source(done.source, "k2l_fill")["Fill"]()(torch.as_tensor(x))
    np.testing.assert_array_equal(total.numpy(), np.full((3, 5), 3.0, "float32"))
    np.testing.assert_array_equal(flat.numpy(), x.reshape(3, -1))


def test_stacks_of_other_values_are_left_alone() -> None:
    code = textwrap.dedent("""
        import torch


        def f(x, n):
            b = x.shape[0]
            a = torch.stack([x, x], dim=0)
            c = torch.stack([b, n], dim=0)
            d = torch.stack([b, 2], dim=1)
            return a, c, d, torch.maximum(n, x), torch.zeros(n)
    """)
    out = tensor_shape_values(code)
    assert "torch.stack([x, x], dim=0)" in out
    assert "torch.stack([b, n], dim=0)" in out  # n: a parameter, maybe a tensor
    assert "torch.stack([b, 2], dim=1)" in out  # another axis: not a size vector
    assert "torch.maximum(n, x)" in out and "torch.zeros(n)" in out
