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
