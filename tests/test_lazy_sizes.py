"""Sizes the rules cannot know statically: lazy forms (LazyLayerNorm) and symbolic arguments.

Each case is a small program of our own in the shape real Keras code takes (a transformer
block whose LayerNormalization never sees an input shape, a conv block whose kernel size is a
constructor parameter); the converted program must compute what Keras computes, with Keras's
weights ported across.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap
from typing import Any

import keras
import numpy as np
import pytest
import torch

from agent.equivalence import compare, exec_source
from agent.rules.convert import Conversion, convert_source
from agent.rules.training.runtime.lazy_modules import LazyLayerNorm
from agent.tf_shim import install

KERAS = "import keras\nfrom keras import layers\n\n"


def convert(src: str) -> Conversion:
    return convert_source(textwrap.dedent(src), "model.py")


def randomize(model: Any) -> None:
    """Non-default weights everywhere, so a port that drops one (a LayerNorm's beta) shows."""
    rng = np.random.default_rng(1)
    for w in model.weights:
        w.assign(rng.normal(0.0, 0.5, size=tuple(w.shape)).astype("float32"))


def equivalent(src: str, builder: str = "model",
               shape: tuple[int, ...] | None = None) -> str:
    """Convert, build both sides (Keras weights randomized), compare; the converted code.
    ``shape``: the input shape (no batch) for a model that does not say it."""
    src = textwrap.dedent(src)
    result = convert_source(src, "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    keras_model = exec_source(src, "k2l_original")[builder]
    module = exec_source(result.source, "k2l_converted")[builder]
    shape = shape or keras_model.input_shape[1:]
    keras_model(np.zeros((1, *shape), dtype="float32"))
    randomize(keras_model)
    if not hasattr(module, "example_input_array"):
        module.example_input_array = torch.zeros(1, *shape)
    eq = compare(keras_model, module)
    assert eq.passed, f"{eq.message}\n{result.source}"
    return result.source


# ------------------------------------------------------------------------- LazyLayerNorm

@pytest.mark.parametrize("kwargs", [{}, {"bias": False}, {"elementwise_affine": False}])
def test_lazy_layer_norm_becomes_the_layer_norm_torch_would_build(kwargs: dict[str, bool]
                                                                   ) -> None:
    x = torch.randn(2, 3, 7)
    lazy = LazyLayerNorm(eps=1e-3, **kwargs)
    got = lazy(x)
    ref = torch.nn.LayerNorm(7, eps=1e-3, **kwargs)
    assert type(lazy) is torch.nn.LayerNorm  # cls_to_become: ports and state_dicts as usual
    assert lazy.normalized_shape == (7,)
    assert {k: v.shape for k, v in lazy.state_dict().items()} == \
        {k: v.shape for k, v in ref.state_dict().items()}
    torch.testing.assert_close(got, ref(x))


BLOCK = KERAS + """
class Block(layers.Layer):
    def __init__(self, units, rate=0.1):
        super().__init__()
        self.dense = layers.Dense(units, activation="relu")
        self.norm1 = layers.LayerNormalization(epsilon=1e-6)
        self.norm2 = layers.LayerNormalization(center=False)
        self.norm3 = layers.LayerNormalization(center=False, scale=False)
        self.drop = layers.Dropout(rate)

    def call(self, inputs, training=False):
        x = self.drop(self.dense(inputs), training=training)
        return self.norm3(self.norm2(self.norm1(inputs + x)))


inputs = keras.Input(shape=(5, 8))
outputs = layers.Dense(3)(Block(8)(inputs))
model = keras.Model(inputs, outputs)
"""


def test_layer_norm_without_input_size_gets_a_lazy_form() -> None:
    result = convert(BLOCK)
    code = result.source
    assert "self.norm1 = LazyLayerNorm(eps=1e-6)" in code
    assert "self.norm2 = LazyLayerNorm(eps=1e-3, bias=False)" in code  # Keras eps written out
    assert "self.norm3 = LazyLayerNorm(eps=1e-3, elementwise_affine=False)" in code
    assert code.count("class LazyLayerNorm(") == 1  # copied once, however many uses
    assert code.index("class LazyLayerNorm(") < code.index("class Block(")
    assert not [u for u in result.unmapped if "LayerNormalization" in u.reason]


def test_layer_norm_lazy_form_is_numerically_keras() -> None:
    equivalent(BLOCK)


# --------------------------------------------------------- image layers, sizes from names

AUGMENT = KERAS + """
def make_augment(size):
    return keras.Sequential(
        [
            layers.Resizing(size + 4, size + 4),
            layers.RandomCrop(size, size),
            layers.RandomFlip("horizontal"),
        ],
        name="augment",
    )


augment = make_augment(6)
fixed = keras.Sequential([layers.Resizing(10, 10), layers.RandomCrop(6, 6)])
"""


def test_image_layers_without_input_shape_take_rank_3() -> None:
    result = convert(AUGMENT)
    assert not result.unmapped, [u.reason for u in result.unmapped]
    code = result.source
    assert "size=(self.size + 4, self.size + 4)" in code  # the source's expression kept
    assert "self.size = size  # read in forward" in code
    assert "x_height, x_width = x.shape[1], x.shape[2]" in code  # window computed at run time
    assert any("run time" in w.message for w in result.warnings)


def test_random_crop_at_run_time_matches_the_static_window() -> None:
    """Inference: the run-time window (size from a parameter) is the one the rules compute
    statically (size from literals, itself checked against TF's Keras in test_layer_table)."""
    ns = exec_source(convert(AUGMENT).source, "k2l_converted")
    runtime, static = ns["augment"], ns["fixed"]
    runtime.eval()
    static.eval()
    x = torch.randn(2, 7, 9, 3)
    torch.testing.assert_close(runtime(x), static(x))
    runtime.train()
    assert runtime(x).shape == (2, 6, 6, 3)


def test_resizing_from_a_parameter_is_numerically_keras() -> None:
    src = KERAS + """
def make(size):
    return keras.Sequential([layers.Resizing(size + 2, size)])


model = make(5)
"""
    equivalent(src, shape=(4, 6, 3))


# ------------------------------------------------------ windows from names and parameters

CONV_PARAMS = KERAS + """
class ConvBlock(layers.Layer):
    def __init__(self, filters, kernel_size=(3, 3), padding="same", strides=1):
        super().__init__()
        self.conv_a = layers.Conv2D(filters, kernel_size, strides, padding)
        self.conv_b = layers.Conv2D(filters, kernel_size, strides, padding, activation="relu")
        self.pool = layers.MaxPooling2D((2, 2), (2, 2))

    def call(self, x):
        return self.pool(self.conv_b(self.conv_a(x)))


def make_model(filters, kernel_size, pool_size):
    return keras.Sequential([
        layers.Conv2D(filters, kernel_size, input_shape=(12, 12, 1)),
        layers.Conv2D(filters, kernel_size, dilation_rate=2),
        layers.MaxPooling2D(pool_size=pool_size),
        layers.Flatten(),
        layers.Dense(4),
    ])


model = make_model(4, (3, 2), 2)
inputs = keras.Input(shape=(8, 8, 3))
block_model = keras.Model(inputs, ConvBlock(5)(inputs))
"""


def test_window_from_a_parameter_is_written_as_the_source_wrote_it() -> None:
    result = convert(CONV_PARAMS)
    assert not result.unmapped, [u.reason for u in result.unmapped]
    code = result.source
    assert "nn.Conv2d(1, filters, kernel_size=kernel_size)" in code
    assert "nn.Conv2d(filters, filters, kernel_size=kernel_size, dilation=2)" in code
    assert "nn.MaxPool2d(kernel_size=pool_size)" in code
    assert "nn.LazyLinear(4)" in code  # the flattened size depends on the window
    assert "kernel_size=kernel_size,\n            stride=strides,\n            padding=padding," \
        in code
    assert any("known only at run time" in w.message for w in result.warnings)


@pytest.mark.parametrize("builder", ["model", "block_model"])
def test_window_from_a_parameter_is_numerically_keras(builder: str) -> None:
    equivalent(CONV_PARAMS, builder)


def test_strided_same_with_a_symbolic_window_is_reported_not_guessed() -> None:
    result = convert(KERAS + """
def make(k):
    return keras.Sequential([layers.Conv2D(4, k, strides=2, padding="same",
                                           input_shape=(9, 9, 3))])


model = make(3)
""")
    assert [u.keras_name for u in result.unmapped] == ["Conv2D"]
    assert "strided" in result.unmapped[0].reason


# ------------------------------------------------- BatchNormalization of an unknown rank

SEQUENCE_BN = KERAS + """
class Block(layers.Layer):
    def __init__(self):
        super().__init__()
        self.norm = layers.BatchNormalization()

    def call(self, x):
        return self.norm(x)


seq_in = keras.Input(shape=(5, 3))
seq_model = keras.Model(seq_in, Block()(seq_in))
img_in = keras.Input(shape=(4, 5, 3))
img_model = keras.Model(img_in, Block()(img_in))
"""


def test_batch_norm_of_unknown_rank_normalizes_the_last_axis() -> None:
    """A sub-layer sees no input shape; a rank-1 guess (BatchNorm1d on the raw input) would
    normalize the time axis of a sequence. The forward folds the other axes instead."""
    code = convert(SEQUENCE_BN).source
    assert "nn.LazyBatchNorm1d(eps=1e-3, momentum=0.01)" in code
    assert ".reshape(x.size(0), -1, x.size(-1)).transpose(1, 2)" in code


@pytest.mark.parametrize("builder", ["seq_model", "img_model"])
def test_batch_norm_of_unknown_rank_is_numerically_keras(builder: str) -> None:
    equivalent(SEQUENCE_BN, builder)


def test_shape_keeping_layer_first_leaves_the_rank_to_the_next_layer() -> None:
    """Rescaling on an unknown input says nothing about its rank; the Resizing after it does
    (images), so the model converts instead of treating the input as a vector."""
    src = KERAS + """
SIZE = 6
model = keras.Sequential([layers.Rescaling(1 / 255.0), layers.Dropout(0.1),
                          layers.Resizing(SIZE + 2, SIZE)])
"""
    code = equivalent(src, shape=(5, 4, 3))
    assert "size=(SIZE + 2, SIZE)" in code


# ------------------------------------------------------------ LSTM with other activations

LSTM_RELU = KERAS + """
model = keras.Sequential([
    keras.Input(shape=(6, 3)),
    layers.LSTM(5, activation="relu", return_sequences=True),
    layers.LSTM(4, activation="elu", recurrent_activation="hard_sigmoid", use_bias=False),
    layers.Dense(2),
])
"""


def test_lstm_with_relu_gets_keras_cell() -> None:
    code = convert(LSTM_RELU).source
    flat = "".join(code.split())  # the formatter may wrap the constructor
    assert 'self.lstm=ActivatedLSTM(3,5,activation="relu",recurrent_activation="sigmoid")' \
        in flat
    assert ('self.lstm_1=ActivatedLSTM(5,4,activation="elu",recurrent_activation="hard_sigmoid"'
            ',bias=False') in flat
    assert code.count("class ActivatedLSTM(nn.LSTM):") == 1
    assert "def _activation" in code.split("class ActivatedLSTM")[0]  # its table comes along


def test_lstm_with_relu_is_numerically_keras() -> None:
    equivalent(LSTM_RELU)


def test_activated_lstm_with_keras_defaults_is_nn_lstm() -> None:
    from agent.rules.layers.recurrent import CELL_ACTIVATIONS
    from agent.rules.training.runtime.recurrent_cells import ActivatedLSTM, _activation

    for name in CELL_ACTIVATIONS:  # the rules offer what the cell runs
        assert callable(_activation(name)), name
    m = ActivatedLSTM(3, 5)
    x = torch.randn(2, 4, 3)
    with torch.no_grad():
        got, (h, c) = m(x)
        ref, (h_ref, c_ref) = torch.nn.LSTM.forward(m, x)
    torch.testing.assert_close(got, ref)
    torch.testing.assert_close((h, c), (h_ref, c_ref))


def test_bidirectional_lstm_with_relu_is_still_reported() -> None:
    result = convert(KERAS + """
model = keras.Sequential([keras.Input(shape=(6, 3)),
                          layers.Bidirectional(layers.LSTM(5, activation="relu"))])
""")
    assert any("hand-written cell (nn.LSTM" in u.reason for u in result.unmapped)


# ------------------------------------------------------------- Reshape targets from names

RESHAPES = KERAS + """
class PatchEmbed(layers.Layer):
    def __init__(self, patch_size, embed_dim):
        super().__init__()
        self.proj = layers.Conv2D(embed_dim, kernel_size=patch_size, strides=patch_size)
        self.flatten = layers.Reshape(target_shape=(-1, embed_dim))
        self.norm = layers.LayerNormalization(epsilon=1e-5)

    def call(self, x):
        return self.norm(self.flatten(self.proj(x)))


def make_model(steps, features, units=6):
    inputs = keras.Input(shape=(steps * features,))
    x = layers.Reshape((steps, features, 1))(inputs)
    x = layers.Conv2D(2, 3, padding="same")(x)
    x = layers.Reshape((-1, x.shape[-2] * x.shape[-1]))(x)
    x = layers.Dense(units)(x)
    x = layers.Reshape((-1, units // 2))(x)
    return keras.Model(inputs, x)


model = make_model(4, 3)
images = keras.Input(shape=(8, 8, 3))
patch_model = keras.Model(images, PatchEmbed(2, 5)(images))
"""


def test_reshape_target_from_names_is_kept_where_the_names_live() -> None:
    result = convert(RESHAPES)
    assert not result.unmapped, [u.reason for u in result.unmapped]
    code = result.source
    assert "self.flatten_shape = (-1, embed_dim)" in code  # in __init__, where embed_dim is
    assert ".flatten(1).unflatten(1, self.flatten_shape)" in code
    assert "(-1, units // 2)" in code
    assert "(-1, features * 2)" in code  # x.shape[-2] * x.shape[-1]: x's sizes put in


@pytest.mark.parametrize("builder", ["model", "patch_model"])
def test_reshape_target_from_names_is_numerically_keras(builder: str) -> None:
    equivalent(RESHAPES, builder)


# ------------------------------------------------ merges and ranks inside a subclass

UPSCALE = KERAS + """
class Upscale(layers.Layer):
    def __init__(self, filters, kernel_size=(3, 3), padding="same", strides=1):
        super().__init__()
        self.up = layers.UpSampling2D((2, 2))
        self.conc = layers.Concatenate()
        self.conv = layers.Conv2D(filters, kernel_size, strides, padding)
        self.bn = layers.BatchNormalization()
        self.act = layers.LeakyReLU(0.2)

    def call(self, x, skip):
        x = self.up(x)
        merged = self.conc([x, skip])
        return self.act(self.bn(self.conv(merged)))


low = keras.Input(shape=(4, 4, 3))
high = keras.Input(shape=(8, 8, 2))
model = keras.Model([low, high], Upscale(5)(low, high))
"""


def test_merge_of_a_list_in_a_subclass_leaves_the_rank_to_the_next_layer() -> None:
    result = convert(UPSCALE)
    # the class converts, and the functional model calling it with two tensors passes both
    # (one per ``call`` argument, as Keras does), none dropped
    assert not result.unmapped, [u.reason for u in result.unmapped]
    code = result.source
    assert "self.upscale(low, high)" in code
    assert "class Upscale(nn.Module):" in code
    assert "torch.cat([x, skip], dim=-1)" in code
    assert "nn.LazyConv2d(filters, kernel_size=kernel_size, stride=strides, padding=padding)" \
        in " ".join(code.split())


def test_merge_of_a_list_in_a_subclass_is_numerically_keras() -> None:
    src = textwrap.dedent(UPSCALE)
    result = convert_source(src, "model.py")
    keras.backend.clear_session()
    install()
    keras_model = exec_source(src, "k2l_original")["model"]
    randomize(keras_model)
    # the converted layer itself, called with both tensors, Keras's weights set by hand
    classes = result.source.split("\nlow = ")[0]  # the model around it stays Keras
    module = exec_source(classes, "k2l_converted")["Upscale"](5)
    rng = np.random.default_rng(2)
    low = rng.normal(size=(2, 4, 4, 3)).astype("float32")
    high = rng.normal(size=(2, 8, 8, 2)).astype("float32")
    module(torch.as_tensor(low), torch.as_tensor(high))  # Lazy sizes from one batch
    layer = keras_model.layers[-1]
    kernel, bias, gamma, beta, mean, var = (keras.ops.convert_to_numpy(w)
                                            for w in layer.weights)
    with torch.no_grad():
        module.conv.weight.copy_(torch.as_tensor(kernel.transpose(3, 2, 0, 1)))
        module.conv.bias.copy_(torch.as_tensor(bias))
        module.bn.weight.copy_(torch.as_tensor(gamma))
        module.bn.bias.copy_(torch.as_tensor(beta))
        module.bn.running_mean.copy_(torch.as_tensor(mean))
        module.bn.running_var.copy_(torch.as_tensor(var))
    module.eval()
    ref = keras.ops.convert_to_numpy(keras_model([low, high], training=False))
    with torch.no_grad():
        got = module(torch.as_tensor(low), torch.as_tensor(high)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4)


AFTER_CUSTOM_LAYER = KERAS + """
class Gate(layers.Layer):
    def call(self, x):
        return x * keras.ops.sigmoid(x)


def build_model(dim=6):
    inputs = keras.Input(shape=(dim,))
    h = layers.Dense(4)(inputs)
    h = Gate()(h)
    return keras.Model(inputs, layers.Dense(3)(h))


model = build_model()
"""


def test_lazy_layer_after_a_custom_layer_is_sized_by_a_dry_call() -> None:
    """A Dense after a custom layer has no static input size: its nn.LazyLinear is sized by
    one dry call in __init__ (as Keras builds the model), and then gets Keras's initializers,
    so nothing is left to warn about."""
    result = convert(AFTER_CUSTOM_LAYER)
    assert "nn.LazyLinear(3)" in result.source
    assert not result.warnings, result.warnings
    install()
    module = exec_source(result.source, "k2l_converted")["build_model"](dim=5)
    head = module.dense_1
    assert isinstance(head, torch.nn.Linear) and not isinstance(head, torch.nn.LazyLinear)
    assert head.in_features == 4
    assert torch.count_nonzero(head.bias) == 0  # Keras zeros; torch's own init is not
    assert module.training  # the dry call ran in eval mode and gave training mode back


def test_lazy_layer_sized_by_a_dry_call_is_numerically_keras() -> None:
    equivalent(AFTER_CUSTOM_LAYER)


INNER_LAZY = KERAS + """
class Mixer(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.proj = layers.Dense(units)

    def call(self, x):
        return keras.ops.relu(self.proj(keras.ops.concatenate([x, x * x], axis=-1)))


def build_model(dim=5):
    inputs = keras.Input(shape=(dim,))
    return keras.Model(inputs, layers.Dense(2)(Mixer(7)(inputs)))


model = build_model()
"""


def test_custom_layer_with_lazy_sub_layers_is_sized_and_initialized_by_the_model() -> None:
    """A custom layer whose sub-layer never sees a static size: the layer gets keras_init()
    (its Keras initializers), the model's dry call sizes it and then runs that method."""
    result = convert(INNER_LAZY)
    assert "def keras_init(self) -> None:" in result.source
    assert "self.mixer.keras_init()" in result.source
    assert not result.warnings, result.warnings
    install()
    module = exec_source(result.source, "k2l_converted")["build_model"](dim=3)
    proj = module.mixer.proj
    assert isinstance(proj, torch.nn.Linear) and proj.in_features == 6
    assert torch.count_nonzero(proj.bias) == 0  # Keras zeros; torch's own init is not
    equivalent(INNER_LAZY)


def test_custom_layer_made_outside_a_model_keeps_its_lazy_warning() -> None:
    """An instance no converted model sizes (made at module level) still needs one batch
    before its optimizer: the warning stays."""
    result = convert(INNER_LAZY + "\nextra = Mixer(3)\n")
    assert any("nn.Lazy modules for self.proj" in w.message for w in result.warnings)


def test_a_lazy_sub_layer_call_never_uses_leaves_the_model_buildable() -> None:
    """Keras makes no weights for a sub-layer ``call()`` never calls; its initializers in
    ``keras_init()`` must not touch the still-lazy parameters (they raised before)."""
    src = textwrap.dedent("""
        import keras
        from keras import layers


        class Gate(layers.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.proj = layers.Dense(units)
                self.spare = layers.Dense(units)

            def call(self, x):
                return self.proj(x) * 2.0


        inputs = keras.Input(shape=(8,))
        h = Gate(4)(layers.Dense(6)(inputs))
        model = keras.Model(inputs, layers.Dense(2)(h))
    """)
    result = convert_source(src, "model.py")
    assert "self.gate.keras_init()" in result.source, result.source
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    keras_model = exec_source(src, "k2l_original")["model"]
    module = exec_source(result.source, "k2l_converted")["model"]  # raised ValueError before
    assert any(torch.nn.parameter.is_lazy(p) for p in module.gate.spare.parameters())
    assert len(keras_model.get_layer(index=2).spare.weights) == 0  # Keras never built it either
    x = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    with torch.no_grad():
        assert tuple(module(torch.as_tensor(x)).shape) == (3, 2)
