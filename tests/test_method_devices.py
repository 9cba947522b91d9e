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
    flat = "".join(source.split())  # the line wrapper may split a long call
    assert "torch.arange(0,length,device=x.device)" in flat, source
    assert "torch.ones((n,),device=inputs.device)" in flat, source
    assert "torch.zeros((1,n),device=inputs.device" in flat, source
    assert "torch.as_tensor([2.0],device=inputs.device)" in flat, source


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


GAN = textwrap.dedent('''
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers

    critic = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1)], name="critic")
    maker = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(4)], name="maker")


    class Pair(keras.Model):
        def __init__(self, critic, maker):
            super().__init__()
            self.critic = critic
            self.maker = maker

        def compile(self, c_opt, m_opt, loss_fn):
            super().compile()
            self.c_opt, self.m_opt, self.loss_fn = c_opt, m_opt, loss_fn

        def train_step(self, real):
            n = tf.shape(real)[0]
            noise = tf.random.normal(shape=(n, 3))
            both = tf.concat([self.maker(noise), real], axis=0)
            labels = tf.concat([tf.ones((n, 1)), tf.zeros((n, 1))], axis=0)
            with tf.GradientTape() as tape:
                loss = self.loss_fn(labels, self.critic(both))
            grads = tape.gradient(loss, self.critic.trainable_weights)
            self.c_opt.apply_gradients(zip(grads, self.critic.trainable_weights))
            return {"loss": loss}


    pair = Pair(critic, maker)
    pair.compile(keras.optimizers.Adam(), keras.optimizers.Adam(),
                 keras.losses.BinaryCrossentropy(from_logits=True))
    pair.fit(np.random.rand(8, 4).astype("float32"), epochs=1, batch_size=4)
''')


def test_a_converted_train_step_makes_its_tensors_on_the_modules_device() -> None:
    result = convert_source(GAN, "pair.py")
    step = result.source[result.source.index("def train_step"):]
    step = step[:step.index("return")]
    assert "torch.randn((n, 3), device=self.device)" in step, step
    assert "torch.ones((n, 1), device=self.device)" in step, step
    assert "torch.zeros((n, 1), device=self.device)" in step, step
