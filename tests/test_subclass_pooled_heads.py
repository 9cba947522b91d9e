"""Subclassed models whose conv features are pooled to ``(batch, channels)`` before a Dense
head. Such a tensor has one layout, so the converter no longer reports it as "lost track of a
channels-first tensor's rank" (it did, and the whole model stayed Keras)."""

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
