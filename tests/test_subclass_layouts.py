"""Layouts in subclassed models that were reported "lost track of a channels-first tensor's
rank" (and the whole model stayed Keras): conv features pooled to ``(batch, channels)`` before
a Dense head (such a tensor has one layout), and a custom residual layer of unknown input size
adding its input back (the first Conv2D fixes the input's rank; an elementwise merge keeps
it)."""

from __future__ import annotations

import pytest

from tests.test_lazy_sizes import KERAS, equivalent

POOLED = KERAS + """
class Pooled(keras.Model):
    def __init__(self, num_classes=5):
        super().__init__()
        self.conv1 = layers.Conv{dims}D(6, 3, activation="relu")
        self.conv2 = layers.Conv{dims}D(8, 3, padding="same")
        self.pool = layers.Global{kind}Pooling{dims}D()
        self.head = layers.Dense(num_classes, activation="softmax")

    def call(self, inputs):
        x = self.conv1(inputs)
        x = self.conv2(x)
        x = self.pool(x)
        return self.head(x)


model = Pooled()
model.build({shape})
"""


@pytest.mark.parametrize("dims,shape", [(1, (None, 12, 3)), (2, (None, 10, 9, 2))])
@pytest.mark.parametrize("kind", ["Average", "Max"])
def test_pooled_conv_features_feed_the_head_as_keras_computes(dims: int, shape: tuple,
                                                              kind: str) -> None:
    code = equivalent(POOLED.format(dims=dims, kind=kind, shape=shape), shape=shape[1:])
    assert "self.head = nn.Linear(8, num_classes)" in code, code


RESIDUAL = KERAS + """
class Residual(layers.Layer):
    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = layers.Conv{dims}D(filters, 3, padding="same", activation="relu")
        self.conv2 = layers.Conv{dims}D(filters, 3, padding="same")
        self.merge = layers.{merge}()

    def call(self, inputs):
        x = self.conv2(self.conv1(inputs))
        return keras.activations.relu(self.merge([x, inputs]))


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.stem = layers.Conv{dims}D(4, 3, padding="same")
        self.blocks = [Residual(4) for _ in range(2)]
        self.pool = layers.GlobalAveragePooling{dims}D()
        self.head = layers.Dense(3)

    def call(self, inputs):
        x = self.stem(inputs)
        for block in self.blocks:
            x = block(x)
        return self.head(self.pool(x))


model = Net()
model.build({shape})
"""


@pytest.mark.parametrize("dims,shape", [(1, (None, 9, 2)), (2, (None, 8, 7, 3))])
@pytest.mark.parametrize("merge", ["Add", "Multiply"])
def test_a_residual_layer_of_unknown_input_size_converts_as_keras_computes(
        dims: int, shape: tuple, merge: str) -> None:
    code = equivalent(RESIDUAL.format(dims=dims, merge=merge, shape=shape), shape=shape[1:])
    assert "class Residual(nn.Module)" in code, code
