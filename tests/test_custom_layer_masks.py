"""Keras's implicit masks through custom layers (classes/layer_masks.py, models/masks.py).

A custom layer's ``compute_mask`` gives its output a mask; ``supports_masking = True`` passes
the input's on; a ``call(inputs, mask=None)`` gets the input's mask from Keras. The converted
functional model computes and passes them explicitly: numerically Keras's on padded input.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import pytest

from tests.test_masks import _convert, _equivalent, _ids, _mask_warnings

HEAD = """\
import keras
from keras import layers, ops

VOCAB, STEPS, DIM = 20, 7, 6

"""
CLASSES = {
    "TokensAndPositions": """
class TokensAndPositions(layers.Layer):
    def __init__(self, vocab, steps, dim, **kwargs):
        super().__init__(**kwargs)
        self.tokens = layers.Embedding(vocab, dim)
        self.positions = layers.Embedding(steps, dim)

    def call(self, ids):
        where = ops.arange(0, ops.shape(ids)[-1])
        return self.tokens(ids) + self.positions(where)

    def compute_mask(self, inputs, mask=None):
        return ops.not_equal(inputs, 0)

""",
    "ZeroPadded": """
class ZeroPadded(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return inputs
        return inputs * ops.cast(mask, inputs.dtype)[:, :, None]

""",
    "Doubled": """
class Doubled(layers.Layer):
    def call(self, inputs):
        return inputs * 2.0

""",
}
ALL = HEAD + "".join(CLASSES.values())

MODELS = {
    # compute_mask -> a reader passing it on -> Dense (passes) -> masked average
    "computed_read_pooled": """
ids = keras.Input(shape=(STEPS,), dtype="int32")
x = TokensAndPositions(VOCAB, STEPS, DIM)(ids)
x = ZeroPadded()(x)
x = layers.Dense(5, activation="relu")(x)
x = layers.GlobalAveragePooling1D()(x)
model = keras.Model(ids, layers.Dense(2)(x))
""",
    # compute_mask -> Dense (passes it on) -> masked average
    "computed_pooled": """
ids = keras.Input(shape=(STEPS,), dtype="int32")
x = TokensAndPositions(VOCAB, STEPS, DIM)(ids)
x = layers.Dense(5)(x)
model = keras.Model(ids, layers.GlobalAveragePooling1D()(x))
""",
    # the built-in Embedding's mask read by a custom call(mask=) and passed on to a pooling
    "embedding_read_by_custom": """
ids = keras.Input(shape=(STEPS,), dtype="int32")
x = layers.Embedding(VOCAB, DIM, mask_zero=True)(ids)
x = ZeroPadded()(x)
model = keras.Model(ids, layers.GlobalAveragePooling1D()(x))
""",
    # a custom layer without mask support ends the mask (Keras 3 drops it): plain average
    "dropped_by_custom": """
ids = keras.Input(shape=(STEPS,), dtype="int32")
x = TokensAndPositions(VOCAB, STEPS, DIM)(ids)
x = Doubled()(x)
model = keras.Model(ids, layers.GlobalAveragePooling1D()(x))
""",
}


@pytest.mark.parametrize("padding", ["pre", "post", "holes"])
@pytest.mark.parametrize("form", sorted(MODELS))
def test_custom_layer_masks_are_numerically_keras(form: str, padding: str) -> None:
    used = {name: code for name, code in CLASSES.items() if f"{name}(" in MODELS[form]}
    code = _equivalent(HEAD + "".join(used.values()) + MODELS[form],
                       _ids(padding).astype("int32"))
    if form != "dropped_by_custom":
        assert ".compute_mask(" in code or "mask=mask" in code, code


def test_the_mask_is_computed_by_the_layer_and_passed_by_keyword() -> None:
    code = _convert(ALL + MODELS["computed_read_pooled"]).source
    forward = code.split("def forward(self, ids: torch.Tensor)")[1].split("return")[0]
    assert "mask = self.tokens_and_positions.compute_mask(ids)" in forward, forward
    assert "self.zero_padded(x, mask=mask)" in forward, forward


def test_a_mask_reaching_the_output_keeps_the_model_unmasked_and_says_so() -> None:
    src = ALL + """
ids = keras.Input(shape=(STEPS,), dtype="int32")
x = TokensAndPositions(VOCAB, STEPS, DIM)(ids)
model = keras.Model(ids, layers.Dense(3)(x))
"""
    result = _convert(src)
    assert ".compute_mask(" not in result.source.split("class KerasModel")[1]
    assert any("compute_mask attaches is not passed on" in w for w in _mask_warnings(result))


def test_a_reader_called_on_two_tensors_keeps_the_class_warning() -> None:
    src = ALL + """
class Merge(layers.Layer):
    def call(self, inputs, memory, mask=None):
        if mask is None:
            return inputs + memory
        return (inputs + memory) * ops.cast(mask, inputs.dtype)[:, :, None]


ids = keras.Input(shape=(STEPS,), dtype="int32")
x = TokensAndPositions(VOCAB, STEPS, DIM)(ids)
y = Merge()(x, x)
model = keras.Model(ids, layers.GlobalAveragePooling1D()(y))
"""
    warnings = _mask_warnings(_convert(src))
    assert any("call() reads mask, which Keras passed implicitly" in w for w in warnings)
    assert any("compute_mask attaches is not passed on" in w for w in warnings)
