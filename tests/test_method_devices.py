"""Tensors a converted layer's ``call`` makes from Python values (``ops.arange(n)``,
``tf.zeros((n, d))``, ``tf.constant([...])``) are made on the input's device, as TF makes them
where its ops run: ``torch.arange(n)`` alone is a CPU tensor, and the layer fails on a GPU.
The layers run here on torch's ``meta`` device, which fails the same way a GPU does."""

from __future__ import annotations

import textwrap

import torch

from agent.rules.convert import convert_source

SOURCE = textwrap.dedent('''
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers, ops


    class PositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab, dim):
            super().__init__()
            self.tokens = layers.Embedding(input_dim=vocab, output_dim=dim)
            self.positions = layers.Embedding(input_dim=maxlen, output_dim=dim)

        def call(self, x):
            length = ops.shape(x)[-1]
            positions = ops.arange(start=0, stop=length, step=1)
            x = self.tokens(x)
            return x + self.positions(positions)


    class Offsets(layers.Layer):
        def call(self, inputs):
            n = tf.shape(inputs)[-1]
            scale = tf.constant([2.0])
            return inputs * scale + tf.ones((n,)) + tf.zeros((1, n))


    class Pair(layers.Layer):
        def call(self, inputs):
            first, second = inputs[0], inputs[1]
            return first + second + tf.ones((3,))
''')


def _converted() -> tuple[str, dict[str, object]]:
    result = convert_source(SOURCE, "layers.py")
    assert not result.error and not result.unmapped, result.unmapped
    namespace: dict[str, object] = {"__name__": "converted"}
    exec(compile(result.source, "layers.py", "exec"), namespace)  # noqa: S102 - our output
    return result.source, namespace


def test_creation_calls_take_the_input_device() -> None:
    source, _ = _converted()
    assert "torch.arange(0, length, device=x.device)" in source, source
    assert "torch.ones((n,), device=inputs.device)" in source, source
    assert "torch.zeros((1, n), device=inputs.device)" in source, source
    assert "torch.as_tensor([2.0], device=inputs.device)" in source, source


def test_a_list_input_is_never_guessed_at() -> None:
    source, _ = _converted()
    pair = source[source.index("class Pair"):]
    assert "torch.ones((3,))" in pair and "device=" not in pair, pair


def test_layers_run_on_another_device() -> None:
    _, ns = _converted()
    embed = ns["PositionEmbedding"](10, 50, 8).to("meta")  # type: ignore[operator]
    out = embed(torch.zeros(2, 10, dtype=torch.long, device="meta"))
    assert out.device.type == "meta" and tuple(out.shape) == (2, 10, 8)
    offsets = ns["Offsets"]()  # type: ignore[operator]
    out = offsets(torch.zeros(2, 4, device="meta"))
    assert out.device.type == "meta" and tuple(out.shape) == (2, 4)
