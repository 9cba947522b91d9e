"""Layer behaviour the one-layer table tests cannot show: Keras 2 aliases, padded steps,
training-mode noise, TF's pooling rule, and initializer distributions against Keras's own."""

from __future__ import annotations

import os
import re

os.environ["KERAS_BACKEND"] = "torch"

import textwrap
from typing import Any

import keras
import numpy as np
import pytest
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source

pytestmark = pytest.mark.slow

HEAD = "import keras\nimport numpy as np\nfrom keras import layers\n\n"


def converted(src: str) -> tuple[str, Any]:
    result = convert_source(HEAD + textwrap.dedent(src), "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    assert "keras" not in result.source, result.source
    return result.source, result


def build(code: str, name: str = "model") -> Any:
    return exec_source(code, "k2l_converted")[name]


# ----------------------------------------------------------------------------- aliases

@pytest.mark.parametrize(("old", "new"), [
    ("layers.CuDNNLSTM(8)", "layers.LSTM(8)"),
    ("layers.CuDNNGRU(8, return_sequences=True)", "layers.GRU(8, return_sequences=True)"),
    ("keras.layers.cudnn_recurrent.CuDNNGRU(4)", "layers.GRU(4)"),
    ("layers.Convolution3DTranspose(2, 3)", "layers.Conv3DTranspose(2, 3)"),
])
def test_keras2_names_convert_like_keras3_layers(old: str, new: str) -> None:
    shape = "(5, 5, 5, 2)" if "3D" in new else "(6, 3)"
    tpl = "model = keras.Sequential([keras.Input(shape=" + shape + "), {}])\n"
    got, _ = converted(tpl.format(old))
    want, _ = converted(tpl.format(new))
    attr = re.compile(r"self\.[a-z_0-9]+")  # attribute names follow the Keras class name
    assert attr.sub("self.m", got) == attr.sub("self.m", want)


# ----------------------------------------------------------------------------- pooling

def test_average_pooling_3d_same_averages_real_cells_only() -> None:
    """TF's rule (the windows at the end hold fewer cells): checked by direct averaging."""
    code, _ = converted("""\
        model = keras.Sequential([keras.Input(shape=(3, 4, 5, 2)),
                                  layers.AveragePooling3D((2, 2, 3), padding="same")])
        """)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5, 2)).astype("float32")
    want = np.zeros((2, 2, 2, 2, 2), "float32")
    for i in range(2):
        for j in range(2):
            for k in range(2):
                cells = x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2, 3 * k:3 * k + 3]
                want[:, i, j, k] = cells.mean(axis=(1, 2, 3))
    with torch.no_grad():
        got = build(code).eval()(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)


# ----------------------------------------------------------------------------- masking

def test_masking_zeroes_the_masked_steps_like_keras() -> None:
    code, result = converted("""\
        model = keras.Sequential([keras.Input(shape=(4, 3)), layers.Masking(mask_value=-1.0)])
        """)
    # the mask reaches the output: forward stores it for the loss (tests/test_output_masks.py)
    assert "self.output_mask = mask" in code, code
    assert not any("Masking" in w.message for w in result.warnings)
    x = np.random.default_rng(1).standard_normal((2, 4, 3)).astype("float32")
    x[0, 1] = -1.0  # a masked step
    x[1, 3, 0] = -1.0  # one feature equal to mask_value: not masked
    keras_model = keras.Sequential([keras.Input(shape=(4, 3)), keras.layers.Masking(-1.0)])
    want = keras.ops.convert_to_numpy(keras_model(x))
    with torch.no_grad():
        got = build(code).eval()(torch.as_tensor(x)).numpy()
    assert np.all(got[0, 1] == 0)
    np.testing.assert_allclose(got, want, atol=1e-6)


# ----------------------------------------------------------------------------- noise layers

@pytest.mark.parametrize("layer", ["GaussianDropout(0.3)", "AlphaDropout(0.2)"])
def test_noise_layers_match_keras_statistics_in_training(layer: str) -> None:
    """Random, so compare moments of large samples; inference is identity on both sides."""
    code, _ = converted(f"model = keras.Sequential([keras.Input(shape=(4000,)), "
                        f"layers.{layer}])\n")
    module = build(code)
    x = np.random.default_rng(2).standard_normal((50, 4000)).astype("float32")
    keras_layer = getattr(keras.layers, layer.split("(")[0])(float(layer[:-1].split("(")[1]))
    want = keras.ops.convert_to_numpy(keras_layer(x, training=True))
    module.train()
    with torch.no_grad():
        got = module(torch.as_tensor(x)).numpy()
        module.eval()
        same = module(torch.as_tensor(x)).numpy()
    np.testing.assert_array_equal(same, x)
    assert not np.allclose(got, x)
    for stat in (np.mean, np.std):
        assert abs(stat(got) - stat(want)) < 0.02, (stat.__name__, stat(got), stat(want))
    # the noise's own spread, x-independent for GaussianDropout: (y / x) has std sqrt(r/(1-r))
    if layer.startswith("Gaussian"):
        assert abs(np.std(got / x) - np.std(want / x)) < 0.02


# ----------------------------------------------------------------------------- initializers

# (Keras initializer expression, layer kind): the converted layer's weight must follow the same
# distribution as the Keras layer's kernel (std and range), for fan-dependent ones on
# non-square weights so that a wrong fan shows.
INITS = [
    ('"glorot_normal"', "dense"), ('"he_normal"', "dense"), ('"lecun_normal"', "dense"),
    ('"he_uniform"', "dense"), ('"lecun_uniform"', "dense"), ('"glorot_uniform"', "conv"),
    ('"he_normal"', "conv"), ('"truncated_normal"', "dense"), ('"random_normal"', "dense"),
    ('"random_uniform"', "dense"), ('"orthogonal"', "dense"), ('"identity"', "dense"),
    ("keras.initializers.RandomNormal(mean=0.5, stddev=0.2)", "dense"),
    ("keras.initializers.RandomUniform(-0.3, 0.1)", "dense"),
    ("keras.initializers.TruncatedNormal(stddev=0.3)", "dense"),
    ("keras.initializers.HeNormal(seed=1)", "conv"),
    ("keras.initializers.VarianceScaling(scale=2.0, mode='fan_out')", "dense"),
    ("keras.initializers.VarianceScaling(0.5, 'fan_avg', 'uniform')", "conv"),
    ("keras.initializers.VarianceScaling(mode='fan_in', distribution='untruncated_normal')",
     "dense"),
    ("keras.initializers.Constant(0.25)", "dense"),
    ("keras.initializers.Orthogonal(gain=2.0)", "dense"),
    ("keras.initializers.Identity(gain=3.0)", "dense"),
    ('"he_uniform"', "embedding"), ('"lecun_normal"', "embedding"),
]
_LAYERS = {
    "dense": ("(300,)", "layers.Dense(120, kernel_initializer={})"),
    "conv": ("(9, 9, 30)", "layers.Conv2D(70, 3, kernel_initializer={})"),
    "embedding": ("(4,)", "layers.Embedding(500, 60, embeddings_initializer={})"),
}


@pytest.mark.parametrize(("init", "kind"), INITS)
def test_initializer_matches_keras_distribution(init: str, kind: str) -> None:
    shape, expr = _LAYERS[kind]
    src = f"model = keras.Sequential([keras.Input(shape={shape}), {expr.format(init)}])\n"
    code, _ = converted(src)
    torch.manual_seed(0)
    module = build(code)
    keras.utils.set_random_seed(0)
    keras_model = exec_source(HEAD + src, "k2l_original")["model"]
    want = keras.ops.convert_to_numpy(keras_model.layers[0].weights[0])
    got = next(iter(module.parameters())).detach().numpy()
    assert got.size == want.size
    scale = max(float(np.std(want)), 1e-3)
    assert abs(np.std(got) - np.std(want)) < 0.05 * scale + 1e-6, (np.std(got), np.std(want))
    assert abs(np.mean(got) - np.mean(want)) < 0.05 * scale + 1e-6, (np.mean(got), np.mean(want))
    # the range: a truncated normal left untruncated reaches ~4σ, not 2σ
    assert np.max(got) <= np.max(want) + 0.5 * scale, (np.max(got), np.max(want))
    assert np.min(got) >= np.min(want) - 0.5 * scale, (np.min(got), np.min(want))


def test_truncated_normals_are_truncated() -> None:
    """Keras's he_normal never draws beyond 2σ; torch's kaiming_normal_ would."""
    code, _ = converted('model = keras.Sequential([keras.Input(shape=(400,)), '
                        'layers.Dense(400, kernel_initializer="he_normal")])\n')
    torch.manual_seed(0)
    w = next(iter(build(code).parameters())).detach().numpy()
    sigma = (2.0 / 400) ** 0.5 / 0.87962566103423978
    assert np.max(np.abs(w)) <= 2 * sigma + 1e-6
    assert np.max(np.abs(w)) > 1.9 * sigma


def test_unknown_initializer_is_kept_not_dropped() -> None:
    """A user's initializer function runs as Keras runs it (``f(shape, dtype)`` on the
    Keras-ordered weight, through the run-time lookup), never torch's default instead."""
    result = convert_source(HEAD + "model = keras.Sequential([keras.Input(shape=(3,)), "
                            "layers.Dense(2, kernel_initializer=my_init)])\n", "model.py")
    assert "initializer_by_name(my_init)(" in result.source, result.source


# ----------------------------------------------------------------------------- embeddings

@pytest.mark.parametrize("arg", [
    "embeddings_initializer=keras.initializers.Constant(matrix)",
    "weights=[matrix]",
])
def test_pretrained_embedding_matrix_is_copied_and_frozen(arg: str) -> None:
    code, _ = converted(f"""\
        matrix = np.arange(30.0).reshape(10, 3)
        model = keras.Sequential([keras.Input(shape=(4,), dtype="int32"),
                                  layers.Embedding(10, 3, {arg}, trainable=False)])
        """)
    module = build(code)
    embedding = next(m for m in module.modules() if isinstance(m, torch.nn.Embedding))
    weight = embedding.weight
    np.testing.assert_array_equal(weight.detach().numpy(), np.arange(30.0).reshape(10, 3))
    assert not weight.requires_grad


# ----------------------------------------------------------------------------- augmentation

def _train_and_eval(layer: str, shape: tuple[int, ...], x: np.ndarray) -> tuple[Any, Any]:
    code, _ = converted(f"model = keras.Sequential([keras.Input(shape={shape}), "
                        f"layers.{layer}])\n")
    module = build(code)
    torch.manual_seed(0)
    with torch.no_grad():
        module.train()
        trained = module(torch.as_tensor(x)).numpy()
        module.eval()
        inferred = module(torch.as_tensor(x)).numpy()
    return trained, inferred


IMAGES = np.random.default_rng(3).uniform(0, 255, (64, 5, 6, 3)).astype("float32")


def test_random_flip_flips_some_images_whole_in_training_only() -> None:
    trained, inferred = _train_and_eval("RandomFlip()", (5, 6, 3), IMAGES)
    np.testing.assert_array_equal(inferred, IMAGES)
    flipped = IMAGES[:, ::-1, ::-1]
    same = [np.array_equal(t, x) for t, x in zip(trained, IMAGES, strict=True)]
    flip = [np.array_equal(t, f) for t, f in zip(trained, flipped, strict=True)]
    assert all(s or f for s, f in zip(same, flip, strict=True))  # each image: all or nothing
    assert 10 < sum(flip) < 54  # about half, as Keras's coin


def test_random_contrast_scales_each_image_about_its_mean() -> None:
    images = IMAGES / 4 + 100  # away from the clipping bounds 0 and 255
    trained, inferred = _train_and_eval("RandomContrast(0.3)", (5, 6, 3), images)
    np.testing.assert_array_equal(inferred, images)
    factors = []
    for t, x in zip(trained, images, strict=True):
        mean = x.mean(axis=(0, 1), keepdims=True)
        f = float(np.sum((t - mean) * (x - mean)) / np.sum((x - mean) ** 2))
        np.testing.assert_allclose(t, np.clip((x - mean) * f + mean, 0, 255), atol=1e-3)
        factors.append(f)
    assert 0.7 <= min(factors) and max(factors) <= 1.3 and np.std(factors) > 0.05


def test_random_crop_takes_a_window_in_training_and_the_centre_at_inference() -> None:
    trained, inferred = _train_and_eval("RandomCrop(3, 4)", (5, 6, 3), IMAGES)
    # Keras 2 / TF at inference: the centred window of the target's aspect ratio (4 x 6 of
    # 5 x 6 here), resized to the target
    want = keras.ops.convert_to_numpy(keras.ops.image.resize(IMAGES[:, 0:4, 0:6], (3, 4)))
    np.testing.assert_allclose(inferred, want, atol=1e-3)
    windows = [IMAGES[:, i:i + 3, j:j + 4] for i in range(3) for j in range(3)]
    assert any(np.array_equal(trained, w) for w in windows)


# ----------------------------------------------------------------------------- Lambda(fn)

SIAMESE = """\
import keras
from keras import layers


def euclidean(vects):
    \"\"\"Distance between two embeddings.\"\"\"
    a, b = vects
    total = keras.ops.sum(keras.ops.square(a - b), axis=1, keepdims=True)
    return keras.ops.sqrt(keras.ops.maximum(total, 1e-7))


left = keras.Input(shape=(4,))
right = keras.Input(shape=(4,))
shared = layers.Dense(3)
dist = layers.Lambda(euclidean, output_shape=(1,))([shared(left), shared(right)])
model = keras.Model([left, right], dist)
"""


def test_lambda_with_a_function_reference_calls_the_converted_function() -> None:
    from agent.equivalence import check_sources

    result = convert_source(SIAMESE, "model.py")
    assert not result.unmapped and not result.keras_deps, result.source
    assert "dist = euclidean([" in result.source
    assert "torch.sum(torch.square(a - b), dim=1, keepdim=True)" in result.source
    eq = check_sources(SIAMESE, result.source)
    assert eq.passed, eq.message


SAMPLING = """\
import keras
from keras import backend as K
from keras import layers

latent_dim = 2


def sampling(args):
    z_mean, z_log_var = args
    batch = K.shape(z_mean)[0]
    epsilon = K.random_normal(shape=(batch, latent_dim))
    return z_mean + K.exp(0.5 * z_log_var) * epsilon


inputs = keras.Input(shape=(6,))
mean = layers.Dense(latent_dim)(inputs)
log_var = layers.Dense(latent_dim)(inputs)
z = layers.Lambda(sampling, output_shape=(latent_dim,))([mean, log_var])
model = keras.Model(inputs, z)
"""


def test_keras2_sampling_function_becomes_torch_and_runs() -> None:
    result = convert_source(SAMPLING, "vae.py")
    assert not result.unmapped and not result.keras_deps, result.source
    assert "epsilon = torch.randn((batch, latent_dim))" in result.source
    module = exec_source(result.source, "k2l_converted")["model"]
    torch.manual_seed(0)
    z = module(torch.zeros(500, 6))
    assert z.shape == (500, 2) and 0.8 < float(z.std()) < 1.2  # zero means, unit variances


def test_function_with_an_unknown_op_is_left_whole_and_reported() -> None:
    src = SIAMESE.replace("keras.ops.sqrt(", "keras.ops.bessel_k0(")
    result = convert_source(src, "model.py")
    assert any("bessel_k0" in u.reason for u in result.unmapped)
    assert "keras.ops.sum(keras.ops.square(a - b)" in result.source  # not half converted


def test_function_given_to_tf_data_converts_with_its_pipeline() -> None:
    """tests/test_pipeline_maps.py: it stays TF with a pipeline that stays TF."""
    src = ("import tensorflow as tf\n\n\ndef scale(x):\n    return tf.cast(x, tf.float32) / 255.0\n"
           "\n\nds = tf.data.Dataset.from_tensor_slices([1, 2]).map(scale)\n")
    result = convert_source(src, "data.py")
    assert "return torch.as_tensor(x, dtype=torch.float32) / 255.0" in result.source
    assert "ds = DataPipeline.from_tensor_slices([1, 2]).map(scale)" in result.source


def test_tf_function_decorator_is_dropped_with_the_rest_converted() -> None:
    src = ("import tensorflow as tf\n\n\n@tf.function\ndef gram(x):\n"
           "    return tf.matmul(x, x, transpose_b=True) / tf.cast(tf.shape(x)[1], tf.float32)\n")
    result = convert_source(src, "ops.py")
    assert "@tf.function" not in result.source and "import tensorflow" not in result.source
    assert ("return torch.matmul(x, x.mT) / torch.as_tensor(x.shape[1], dtype=torch.float32)"
            in result.source), result.source
    gram = exec_source(result.source, "k2l_converted")["gram"]
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(gram(x), x @ x.transpose(1, 2) / 3)
