"""Whole models, every way they are written: convert, port weights, compare outputs.

Each case is a complete Keras program; the converted program must leave no Keras behind
and compute the same function (Keras 3 on its torch backend as the reference).
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest

from agent.equivalence import Equivalence, compare, exec_source
from agent.rules.convert import convert_source
from agent.tf_shim import install

pytestmark = pytest.mark.slow


KERAS = "import keras\nfrom keras import layers\n\n"


def _resolve(ns: dict[str, Any], builder: str) -> Any:
    return eval(builder, ns) if "(" in builder else ns[builder]


def equivalent(src: str, builder: str = "model", *,
               prepare: Callable[[Any], None] | None = None) -> tuple[Equivalence, str]:
    """Convert ``src``, build both sides, optionally adjust the Keras model, compare."""
    result = convert_source(src, "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    assert "keras" not in code and "tensorflow" not in code, code
    keras.backend.clear_session()  # Keras names restart at dense, dense_1...
    keras.utils.set_random_seed(0)
    install()
    keras_model = _resolve(exec_source(src, "k2l_original"), builder)
    if prepare is not None:
        prepare(keras_model)
    module = _resolve(exec_source(code, "k2l_converted"), builder)
    return compare(keras_model, module), code


def check(src: str, builder: str = "model", **kw: Any) -> str:
    eq, code = equivalent(textwrap.dedent(src), builder, **kw)
    assert eq.passed, f"{eq.message}\n{code}"
    return code


# ----------------------------------------------------------------------------- model forms

def test_sequential_with_input_shape() -> None:
    check(KERAS + """
model = keras.Sequential([
    layers.Dense(8, activation="relu", input_shape=(4,)),
    layers.Dense(3, activation="softmax"),
])
""")


def test_sequential_with_keras_input() -> None:
    code = check(KERAS + """
model = keras.Sequential([keras.Input(shape=(5,)), layers.Dense(6, activation="tanh"),
                          layers.Dropout(0.2), layers.Dense(2)])
""")
    assert "self.example_input_array = torch.zeros(1, 5)" in code


def test_add_chain() -> None:
    check(KERAS + """
model = keras.Sequential()
model.add(keras.Input(shape=(5,)))
model.add(layers.Dense(4, activation="relu"))
model.add(layers.Dense(2))
""")


def test_functional_several_inputs_and_outputs() -> None:
    code = check(KERAS + """
a = keras.Input(shape=(4,))
b = keras.Input(shape=(3,))
h = layers.concatenate([layers.Dense(5, activation="relu")(a), layers.Dense(5)(b)])
out1 = layers.Dense(2, name="head1")(h)
out2 = layers.Dense(1, activation="sigmoid", name="head2")(h)
model = keras.Model(inputs=[a, b], outputs=[out1, out2])
""")
    assert "def forward(self, a: torch.Tensor, b: torch.Tensor)" in code


MERGES = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]


@pytest.mark.parametrize("name", MERGES)
def test_merge_layer_class(name: str) -> None:
    check(KERAS + f"""
a = keras.Input(shape=(4,))
b = keras.Input(shape=(4,))
m = layers.{name}()([layers.Dense(3)(a), layers.Dense(3)(b)])
model = keras.Model([a, b], layers.Dense(2)(m))
""")


@pytest.mark.parametrize("name", [n.lower() for n in MERGES])
def test_merge_function(name: str) -> None:
    check(KERAS + f"""
a = keras.Input(shape=(4,))
b = keras.Input(shape=(4,))
y = layers.{name}([a, b])
model = keras.Model([a, b], y)
""")


def test_merge_function_inline_in_model_call() -> None:
    check(KERAS + """
a = keras.Input(shape=(4,))
b = keras.Input(shape=(4,))
model = keras.Model([a, b], layers.add([a, b]))
""")


def test_concatenate_channels_after_conv() -> None:
    """axis=-1 is the channel axis: in channels-first tensors that is dim 1."""
    check(KERAS + """
x = keras.Input(shape=(6, 6, 2))
a = layers.Conv2D(3, 3, padding="same")(x)
b = layers.Conv2D(4, 1)(x)
m = layers.Concatenate(axis=-1)([a, b])
model = keras.Model(x, layers.Flatten()(m))
""")


def test_shared_layer_called_twice() -> None:
    code = check(KERAS + """
a = keras.Input(shape=(4,))
b = keras.Input(shape=(4,))
shared = layers.Dense(3, activation="relu")
y = layers.add([shared(a), shared(b)])
model = keras.Model([a, b], y)
""")
    assert code.count("nn.Linear(") == 1


def test_functional_model_used_as_layer() -> None:
    check(KERAS + """
ei = keras.Input(shape=(6,))
encoder = keras.Model(ei, layers.Dense(4, activation="relu")(ei))
inp = keras.Input(shape=(6,))
out = layers.Dense(2)(encoder(inp))
model = keras.Model(inp, out)
""")


def test_sequential_model_used_as_layer() -> None:
    check(KERAS + """
encoder = keras.Sequential([keras.Input(shape=(6,)), layers.Dense(4, activation="relu")])
inp = keras.Input(shape=(6,))
out = layers.Dense(2)(encoder(inp))
model = keras.Model(inp, out)
""")


def test_port_after_name_counters_moved() -> None:
    src = textwrap.dedent(KERAS + """
model = keras.Sequential([keras.Input(shape=(5, 3)), layers.GRU(4, return_sequences=True),
                          layers.GRU(2)])
""")
    code = convert_source(src).source
    keras.backend.clear_session()
    keras.layers.GRU(1)  # an earlier model in the same session took the name "gru"
    keras_model = exec_source(src, "k2l_original")["model"]
    module = exec_source(code, "k2l_converted")["model"]
    assert compare(keras_model, module).passed


def test_embedding_lstm_text_model() -> None:
    check(KERAS + """
model = keras.Sequential([
    keras.Input(shape=(7,), dtype="int32"),
    layers.Embedding(20, 8),
    layers.LSTM(5),
    layers.Dense(1, activation="sigmoid"),
])
""")


def test_stacked_bidirectional() -> None:
    check(KERAS + """
model = keras.Sequential([
    keras.Input(shape=(6, 3)),
    layers.Bidirectional(layers.LSTM(4, return_sequences=True)),
    layers.Bidirectional(layers.GRU(3)),
    layers.Dense(2),
])
""")


def test_gru() -> None:
    check(KERAS + """
model = keras.Sequential([keras.Input(shape=(5, 3)), layers.GRU(4, return_sequences=True),
                          layers.GRU(2)])
""")


def test_lstm_return_state_functional() -> None:
    check(KERAS + """
inp = keras.Input(shape=(5, 3))
out, h, c = layers.LSTM(4, return_state=True)(inp)
model = keras.Model(inp, [out, h, c])
""")


def test_build_model_function_with_parameters() -> None:
    src = KERAS + """
def build_model(hidden=8, classes=3):
    model = keras.Sequential([
        keras.Input(shape=(4,)),
        layers.Dense(hidden, activation="relu"),
        layers.Dense(classes, activation="softmax"),
    ])
    return model
"""
    code = check(src, "build_model()")
    assert "hidden" in code
    check(src, "build_model(hidden=5, classes=2)")


# ----------------------------------------------------------------------------- images

def test_cnn_channels_last() -> None:
    check(KERAS + """
model = keras.Sequential([
    keras.Input(shape=(12, 12, 3)),
    layers.Conv2D(4, 3, activation="relu"),
    layers.MaxPooling2D(),
    layers.Conv2D(6, 3, padding="same"),
    layers.GlobalAveragePooling2D(),
    layers.Dense(2),
])
""")


@pytest.mark.parametrize("size", [8, 9])
@pytest.mark.parametrize("kernel", [3, 4])
def test_same_padding_stride_two(size: int, kernel: int) -> None:
    check(KERAS + f"""
model = keras.Sequential([keras.Input(shape=({size}, {size}, 2)),
                          layers.Conv2D(3, {kernel}, strides=2, padding="same")])
""")


def test_flatten_after_conv_then_dense() -> None:
    """The Flatten-order trap: Keras flattens H, W, C."""
    code = check(KERAS + """
model = keras.Sequential([
    keras.Input(shape=(6, 6, 2)),
    layers.Conv2D(3, 3),
    layers.Flatten(),
    layers.Dense(4),
])
""")
    assert code.index("permute(0, 2, 3, 1)") < code.index("torch.flatten(")


def test_conv1d_on_sequences() -> None:
    check(KERAS + """
model = keras.Sequential([
    keras.Input(shape=(10, 3)),
    layers.Conv1D(4, 3, activation="relu"),
    layers.MaxPooling1D(),
    layers.Conv1D(2, 2, padding="same"),
    layers.Flatten(),
    layers.Dense(2),
])
""")


def _random_bn_stats(model: Any) -> None:
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(size=n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, size=n).astype("float32"))
            layer.gamma.assign(rng.uniform(0.5, 1.5, size=n).astype("float32"))
            layer.beta.assign(rng.normal(size=n).astype("float32"))


def test_batch_norm_inference_with_moving_stats() -> None:
    check(KERAS + """
model = keras.Sequential([
    keras.Input(shape=(6, 6, 2)),
    layers.Conv2D(4, 3),
    layers.BatchNormalization(),
    layers.Flatten(),
    layers.Dense(5),
    layers.BatchNormalization(),
])
""", prepare=_random_bn_stats)


def test_batch_norm_stats_actually_matter() -> None:
    """Guards the test above: with non-trivial stats the untouched model differs."""
    src = KERAS + """
model = keras.Sequential([keras.Input(shape=(3,)), layers.BatchNormalization()])
"""
    ref = keras.Sequential([keras.Input(shape=(3,)), keras.layers.BatchNormalization()])
    _random_bn_stats(ref)
    x = np.ones((2, 3), dtype="float32")
    assert not np.allclose(keras.ops.convert_to_numpy(ref(x, training=False)), x)
    check(src, prepare=_random_bn_stats)


# ----------------------------------------------------------------------------- new layers

def test_image_reshaping_model() -> None:
    check(KERAS + """
model = keras.Sequential([
    keras.Input(shape=(6, 6, 2)),
    layers.ZeroPadding2D(((1, 2), (0, 1))),
    layers.Conv2D(3, 3),
    layers.PReLU(shared_axes=[1, 2]),
    layers.UpSampling2D((2, 1)),
    layers.Cropping2D(((1, 0), (0, 1))),
    layers.SeparableConv2D(4, 3, padding="same", depth_multiplier=2),
    layers.LeakyReLU(),
    layers.Softmax(axis=-1),
    layers.Flatten(),
    layers.Dense(2),
])
""")


def test_sequence_reshaping_model() -> None:
    check(KERAS + """
model = keras.Sequential([
    keras.Input(shape=(5, 3)),
    layers.ZeroPadding1D(1),
    layers.Conv1D(4, 3),
    layers.ELU(alpha=0.5),
    layers.UpSampling1D(2),
    layers.Cropping1D((1, 2)),
    layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2),
    layers.TimeDistributed(layers.Dense(2)),
])
""")


def test_time_distributed_conv() -> None:
    check(KERAS + """
model = keras.Sequential([
    keras.Input(shape=(3, 6, 6, 2)),
    layers.TimeDistributed(layers.Conv2D(4, 3, activation="relu")),
    layers.TimeDistributed(layers.Flatten()),
    layers.LSTM(3),
])
""")


def test_dot_product_attention() -> None:
    check(KERAS + """
q = keras.Input(shape=(4, 6))
v = keras.Input(shape=(5, 6))
k = keras.Input(shape=(5, 6))
y = layers.Attention()([q, v, k])
model = keras.Model([q, v, k], layers.GlobalAveragePooling1D()(y))
""")


# ----------------------------------------------------------------------------- imports

IMPORT_STYLES = {
    "import_keras": ("import keras\n", "keras.Sequential", "keras.layers.", "keras.Input"),
    "from_keras_import_layers": ("import keras\nfrom keras import layers\n", "keras.Sequential",
                                 "layers.", "keras.Input"),
    "from_tensorflow_import_keras": ("from tensorflow import keras\n", "keras.Sequential",
                                     "keras.layers.", "keras.Input"),
    "tf_keras": ("import tensorflow as tf\n", "tf.keras.Sequential", "tf.keras.layers.",
                 "tf.keras.Input"),
    "keras_layers_alias": ("import keras\nimport keras.layers as L\n", "keras.Sequential", "L.",
                           "keras.Input"),
    "tf_keras_layers_alias": ("import tensorflow as tf\nfrom tensorflow.keras import layers as "
                              "KL\n", "tf.keras.models.Sequential", "KL.", "tf.keras.Input"),
}


@pytest.mark.parametrize("style", sorted(IMPORT_STYLES))
def test_import_styles(style: str) -> None:
    head, seq, lay, inp = IMPORT_STYLES[style]
    check(head + f"""
model = {seq}([
    {inp}(shape=(8, 8, 1)),
    {lay}Conv2D(2, 3, activation="relu"),
    {lay}Flatten(),
    {lay}Dense(3),
])
""")


def test_from_tensorflow_keras_layers_import_names() -> None:
    check("""
from tensorflow.keras import Sequential
from tensorflow.keras.layers import Dense, Conv2D, Flatten, Input

model = Sequential([Input(shape=(7, 7, 1)), Conv2D(2, 3), Flatten(), Dense(3)])
""")


def test_tensor_rebound_in_a_loop_is_never_dropped_silently() -> None:
    """A functional graph built in a loop the rules cannot unroll (a bound known only at run
    time) must not lose those layers: the model is left as written, with the reason,
    instead of a smaller model that looks converted."""
    src = textwrap.dedent(KERAS + """
def block(x):
    return layers.Dense(4, activation="relu")(x)


inputs = keras.Input(shape=(4,))
x = layers.Dense(4)(inputs)
while x.shape[-1] < 4:
    x = block(x)
x = block(x)
outputs = layers.Dense(1)(x)
model = keras.Model(inputs, outputs)
""")
    result = convert_source(src)
    assert "keras.Model(inputs, outputs)" in result.source
    assert "class Model" not in result.source
    assert any("rebound at line" in u.reason for u in result.unmapped), result.unmapped


def test_lambda_over_a_list_of_tensors() -> None:
    """``Lambda(lambda t: t[0] - t[1])([a, b])``: t is the list, not the first tensor."""
    check(KERAS + """
a = keras.Input(shape=(4,))
b = keras.Input(shape=(4,))
d = layers.Lambda(lambda t: keras.ops.abs(t[0] - t[1]))([a, b])
model = keras.Model([a, b], layers.Dense(2)(d))
""")


def test_builder_model_shared_as_a_layer() -> None:
    """``encoder = build_encoder()`` used twice: one module, called on both inputs."""
    src = KERAS + """
def build_encoder():
    inputs = keras.Input(shape=(6,))
    return keras.Model(inputs, layers.Dense(3, activation="relu")(inputs))


def build_model():
    encoder = build_encoder()
    left = keras.Input(shape=(6,))
    right = keras.Input(shape=(6,))
    merged = layers.concatenate([encoder(left), encoder(right)])
    return keras.Model([left, right], layers.Dense(1)(merged))
"""
    code = convert_source(src).source
    assert code.count("self.encoder = build_encoder()") == 1
    keras.backend.clear_session()
    keras_model = exec_source(src, "k2l_original")["build_model"]()
    module = exec_source(code, "k2l_converted")["build_model"]()
    assert compare(keras_model, module).passed


@pytest.mark.parametrize("call", ["layers.Dropout(0.5)(x, training=True)",
                                  "layers.LSTM(4)(x, mask=m)"])
def test_call_keywords_are_never_dropped(call: str) -> None:
    """MC dropout (training=True) changes the function: refuse, never ignore. A mask from a
    model input is honoured instead (masked_rnn; numbers in tests/test_masks_explicit.py)."""
    src = textwrap.dedent(KERAS + f"""
x = keras.Input(shape=(5, 3))
m = keras.Input(shape=(5,), dtype="bool")
y = {call}
model = keras.Model([x, m], y)
""")
    result = convert_source(src)
    assert "class Model" not in result.source
    if "mask=" in call:
        assert "masked_rnn(self.lstm, x, mask=m)" in result.source, result.source
        return
    assert any("called with" in u.reason for u in result.unmapped), result.unmapped
