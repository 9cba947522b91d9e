"""Keras's implicit masks through custom layers (classes/layer_masks.py, models/masks.py).

A custom layer's ``compute_mask`` gives its output a mask; ``supports_masking = True`` passes
the input's on; a ``call(inputs, mask=None)`` gets the input's mask from Keras. The converted
functional model computes and passes them explicitly: numerically Keras's on padded input.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch

from agent.equivalence import exec_source
from agent.tf_shim import install
from agent.weights import port_weights
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


def test_a_mask_reaching_the_output_is_stored_for_the_loss() -> None:
    """Keras attaches the mask to the output (its loss skips those steps:
    tests/test_output_masks.py): forward stores it."""
    src = ALL + """
ids = keras.Input(shape=(STEPS,), dtype="int32")
x = TokensAndPositions(VOCAB, STEPS, DIM)(ids)
model = keras.Model(ids, layers.Dense(3)(x))
"""
    result = _convert(src)
    forward = result.source.split("class KerasModel")[1].split("def forward")[1]
    assert "mask = self.tokens_and_positions.compute_mask(ids)" in forward, forward
    assert "self.output_mask = mask" in forward, forward
    assert not any("compute_mask attaches is not passed on" in w for w in _mask_warnings(result))


@pytest.mark.parametrize("padding", ["pre", "holes"])
def test_a_reader_called_on_two_tensors_gets_what_keras_3_passes(padding: str) -> None:
    """A Keras 3 script (``keras.ops``): ``mask`` stays None on a call over two tensors, as
    Keras 3 passes none there (tests/test_multi_tensor_masks.py: Keras 2's rule)."""
    src = HEAD + CLASSES["TokensAndPositions"] + """
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
    code = _equivalent(src, _ids(padding).astype("int32"))
    assert "self.merge(x, x)" in code, code


SUBCLASSED = """
class Classifier(keras.Model):
    def __init__(self):
        super().__init__()
        self.embed = TokensAndPositions(VOCAB, STEPS, DIM)
        self.zero = ZeroPadded()
        self.dense = layers.Dense(5)
        self.pool = layers.GlobalAveragePooling1D()
        self.head = layers.Dense(2)

    def call(self, ids):
        x = self.embed(ids)
        x = self.zero(x)
        x = self.dense(x)
        return self.head(self.pool(x))


model = Classifier()
"""


@pytest.mark.parametrize("padding", ["pre", "post", "holes"])
def test_custom_layer_masks_in_a_subclassed_model_are_numerically_keras(padding: str) -> None:
    src = HEAD + CLASSES["TokensAndPositions"] + CLASSES["ZeroPadded"] + SUBCLASSED
    result = _convert(src)
    assert not result.unmapped and not _mask_warnings(result), _mask_warnings(result)
    code = result.source
    assert "mask = self.embed.compute_mask(ids)" in code, code
    assert "self.zero(x, mask=mask)" in code, code
    ids = _ids(padding).astype("int32")
    keras.utils.set_random_seed(0)
    install()
    keras_model = exec_source(src, "k2l_original")["model"]
    keras_model(ids)
    rng = np.random.default_rng(1)
    for w in keras_model.weights:
        w.assign(rng.normal(0.0, 0.5, size=tuple(w.shape)).astype("float32"))
    ref = keras.ops.convert_to_numpy(keras_model(ids, training=False))
    module = exec_source(code, "k2l_converted")["model"]
    module.eval()
    with torch.no_grad():
        module(torch.as_tensor(ids))  # sizes the nn.Lazy modules after the custom layer
    port_weights(keras_model, module)
    with torch.no_grad():
        got = module(torch.as_tensor(ids)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4, err_msg=code)


def test_a_subclass_returning_a_computed_mask_stores_it() -> None:
    src = HEAD + CLASSES["TokensAndPositions"] + """
class Tagger(keras.Model):
    def __init__(self):
        super().__init__()
        self.embed = TokensAndPositions(VOCAB, STEPS, DIM)
        self.head = layers.Dense(3)

    def call(self, ids):
        return self.head(self.embed(ids))


model = Tagger()
"""
    result = _convert(src)
    assert "self.output_mask = mask" in result.source, result.source
    assert not _mask_warnings(result), _mask_warnings(result)


def test_a_subclass_returning_a_mask_on_one_branch_only_says_it_is_lost() -> None:
    src = HEAD + CLASSES["TokensAndPositions"] + """
class Tagger(keras.Model):
    def __init__(self):
        super().__init__()
        self.embed = TokensAndPositions(VOCAB, STEPS, DIM)
        self.head = layers.Dense(3)

    def call(self, ids, training=False):
        if training:
            return self.head(ops.ones((2, STEPS, DIM)))
        return self.head(self.embed(ids))


model = Tagger()
"""
    assert any("compute_mask attaches is not passed on" in w
               for w in _mask_warnings(_convert(src)))
