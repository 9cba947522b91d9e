"""LazyMultiHeadAttention (training/runtime/attention_forms.py) against Keras 3's layer, and
attention inside subclassed layers whose input sizes are unknown statically."""

from __future__ import annotations

import os
import textwrap

os.environ.setdefault("KERAS_BACKEND", "torch")

from typing import Any

import numpy as np
import pytest

from agent.rules.training.runtime.attention_forms import LazyMultiHeadAttention

RNG = np.random.default_rng(7)

# (constructor arguments, query shape, value shape, call arguments)
CASES: dict[str, tuple[dict[str, Any], tuple[int, ...], tuple[int, ...], dict[str, Any]]] = {
    "cross": ({"num_heads": 2, "key_dim": 3}, (2, 5, 7), (2, 4, 6), {}),
    "value_dim_output_shape": ({"num_heads": 3, "key_dim": 4, "value_dim": 5,
                                "output_shape": 9, "use_bias": False}, (2, 5, 7), (2, 4, 6), {}),
    "attention_axes": ({"num_heads": 2, "key_dim": 3, "attention_axes": (2,)},
                       (2, 3, 5, 7), (2, 3, 4, 6), {}),
    "two_attended_axes": ({"num_heads": 2, "key_dim": 3}, (2, 3, 5, 7), (2, 3, 4, 6), {}),
    "causal": ({"num_heads": 2, "key_dim": 3}, (2, 5, 7), (2, 5, 7), {"use_causal_mask": True}),
    "mask": ({"num_heads": 2, "key_dim": 3}, (2, 5, 7), (2, 4, 6), {"mask": True}),
    "int_mask_and_causal": ({"num_heads": 1, "key_dim": 2}, (2, 4, 3), (2, 4, 3),
                            {"mask": "int", "use_causal_mask": True}),
}


def _pair(case: str) -> tuple[Any, LazyMultiHeadAttention, np.ndarray, np.ndarray,
                              dict[str, Any], dict[str, Any]]:
    import keras
    import torch

    from agent.weights.layer_rules import EXTRA_PORTS

    kwargs, qs, vs, call = CASES[case]
    q = RNG.standard_normal(qs).astype("float32")
    v = RNG.standard_normal(vs).astype("float32")
    keras_call: dict[str, Any] = {}
    if call.get("mask"):
        mask = RNG.random((qs[0], qs[1], vs[1])) > 0.3
        mask[:, :, 0] = True  # every query sees one key: no all-masked row
        keras_call["attention_mask"] = mask.astype("int32") if call["mask"] == "int" else mask
    if call.get("use_causal_mask"):
        keras_call["use_causal_mask"] = True
    torch_call = {k: torch.as_tensor(x) if isinstance(x, np.ndarray) else x
                  for k, x in keras_call.items()}
    layer = keras.layers.MultiHeadAttention(**kwargs)
    layer(q, v, **keras_call)
    module = LazyMultiHeadAttention(**kwargs).eval()
    with torch.no_grad():
        module(torch.as_tensor(q), torch.as_tensor(v), **torch_call)
    EXTRA_PORTS["multi_head_attention"](layer, module, case)
    return layer, module, q, v, keras_call, torch_call


@pytest.mark.parametrize("case", sorted(CASES))
def test_runtime_module_equals_keras(case: str) -> None:
    """Outputs and attention scores, with the weights ported by the port rule."""
    import keras
    import torch

    layer, module, q, v, keras_call, torch_call = _pair(case)
    out, scores = layer(q, v, return_attention_scores=True, **keras_call)
    plain = keras.ops.convert_to_numpy(layer(q, v, **keras_call))
    with torch.no_grad():
        t_out, t_scores = module(torch.as_tensor(q), torch.as_tensor(v),
                                 return_attention_scores=True, **torch_call)
        t_plain = module(torch.as_tensor(q), torch.as_tensor(v), **torch_call)
    out, scores = keras.ops.convert_to_numpy(out), keras.ops.convert_to_numpy(scores)
    assert t_out.shape == out.shape and t_scores.shape == scores.shape
    assert float(np.abs(out).max()) > 1e-3  # a real output, not zeros on both sides
    np.testing.assert_allclose(t_out.numpy(), out, atol=1e-5)
    np.testing.assert_allclose(t_scores.numpy(), scores, atol=1e-6)
    np.testing.assert_allclose(t_plain.numpy(), plain, atol=1e-5)


def test_kernels_keep_keras_shapes_and_glorot_bounds() -> None:
    """Keras's EinsumDense kernels: (D, heads, dim) in, (heads, value_dim, D_out) out, with
    glorot-uniform fans from those shapes, zero biases."""
    import torch

    m = LazyMultiHeadAttention(num_heads=4, key_dim=8, value_dim=2, output_shape=6)
    m(torch.zeros(1, 3, 5), torch.zeros(1, 2, 7))
    shapes = {n: tuple(p.shape) for n, p in m.named_parameters()}
    assert shapes == {"query_kernel": (5, 4, 8), "query_bias": (4, 8),
                      "key_kernel": (7, 4, 8), "key_bias": (4, 8),
                      "value_kernel": (7, 4, 2), "value_bias": (4, 2),
                      "output_kernel": (4, 2, 6), "output_bias": (6,)}
    limit = (6 / (4 * 5 + 8 * 5)) ** 0.5  # fan_in = heads * D, fan_out = key_dim * D
    assert float(m.query_kernel.detach().abs().max()) <= limit
    assert float(m.query_kernel.detach().abs().max()) > limit / 2
    assert float(m.output_bias.detach().abs().max()) == 0.0


def test_dropout_only_in_training() -> None:
    import torch

    m = LazyMultiHeadAttention(num_heads=2, key_dim=3, dropout=0.5)
    x = torch.randn(2, 6, 4)
    m(x, x)
    m.eval()
    assert torch.equal(m(x, x), m(x, x))
    m.train()
    torch.manual_seed(0)
    a = m(x, x)
    assert not torch.equal(a, m(x, x))


HEADER = "import tensorflow as tf\nfrom tensorflow import keras\nfrom tensorflow.keras import layers\n"

BLOCK = """
class Block(layers.Layer):
    def __init__(self, dim, heads, **kwargs):
        super().__init__(**kwargs)
        self.attn = layers.MultiHeadAttention(num_heads=heads, key_dim=dim)
        self.cross = layers.MultiHeadAttention(heads, 5, value_dim=3)
        self.norm = layers.LayerNormalization(epsilon=1e-6)
        self.add = layers.Add()

    def call(self, x, context, mask):
        keep = tf.cast(mask[:, tf.newaxis, :], dtype="int32")
        y, scores = self.attn(x, x, attention_mask=keep, return_attention_scores=True)
        x = self.add([x, y])
        z = self.cross(query=x, value=context, key=context, use_causal_mask=True)
        return self.norm(x + z), scores


block = Block(4, 2)
"""


def test_subclass_attention_with_unknown_sizes_converts() -> None:
    """Sizes unknown inside the layer: the runtime module, the mask converted as a tensor
    argument, the scores as a second output, every input of Add kept."""
    from agent.rules.convert import convert_source

    result = convert_source(HEADER + textwrap.dedent(BLOCK), "block.py")
    assert not result.unmapped, [u.reason for u in result.unmapped]
    code = result.source
    assert "self.attn = LazyMultiHeadAttention(num_heads=heads, key_dim=dim)" in code
    assert "self.cross = LazyMultiHeadAttention(num_heads=heads, key_dim=5, value_dim=3)" in code
    assert ("y, scores = self.attn(x, x, attention_mask=keep, return_attention_scores=True)"
            in code)
    assert "x = x + y" in code
    assert "z = self.cross(x, context, context, use_causal_mask=True)" in code
    imports = [line for line in code.splitlines() if line.startswith(("import ", "from "))]
    assert not [line for line in imports if "keras" in line or "tensorflow" in line]
    block = code[code.index("class Block("):]
    assert "tf." not in block and "layers." not in block and "keras" not in block.lower()


@pytest.mark.slow
def test_subclass_attention_numerically() -> None:
    import keras
    import torch

    from agent.equivalence import exec_source
    from agent.rules.convert import convert_source
    from agent.tf_shim import install
    from agent.weights import port_weights

    install()
    source = HEADER + textwrap.dedent(BLOCK).replace("tf.newaxis", "None")  # the TF stand-in
    converted = convert_source(source, "block.py")
    k, t = exec_source(source, "orig"), exec_source(converted.source, "conv")
    x = RNG.standard_normal((2, 5, 6)).astype("float32")
    ctx = RNG.standard_normal((2, 5, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], dtype=bool)
    keras_block, torch_block = k["block"], t["block"]
    keras_out, keras_scores = keras_block(x, ctx, mask)  # type: ignore[operator]
    torch_block.eval()  # type: ignore[attr-defined]
    with torch.no_grad():
        torch_block(torch.as_tensor(x), torch.as_tensor(ctx),  # type: ignore[operator]
                    torch.as_tensor(mask))
    port_weights(keras_block, torch_block)
    with torch.no_grad():
        torch_out, torch_scores = torch_block(  # type: ignore[operator]
            torch.as_tensor(x), torch.as_tensor(ctx), torch.as_tensor(mask))
    np.testing.assert_allclose(torch_out.numpy(), keras.ops.convert_to_numpy(keras_out),
                               atol=1e-4)
    np.testing.assert_allclose(torch_scores.numpy(), keras.ops.convert_to_numpy(keras_scores),
                               atol=1e-5)
