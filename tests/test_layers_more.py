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
    assert any("Masking" in w.message for w in result.warnings)
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


def test_unknown_initializer_is_reported_not_dropped() -> None:
    result = convert_source(HEAD + "model = keras.Sequential([keras.Input(shape=(3,)), "
                            "layers.Dense(2, kernel_initializer=my_init)])\n", "model.py")
    assert result.unmapped and "my_init" in result.unmapped[0].reason


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
