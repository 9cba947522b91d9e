"""Models over another model's tensors (feature extractors, Grad-CAM models, inspection
models): the converted class shares the converted model's modules, and computes Keras's
intermediate tensors (weights ported into the model only, then read through the view)."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap
from typing import Any

import keras
import numpy as np
import pytest
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.tf_shim import install
from agent.weights import port_weights

pytestmark = pytest.mark.slow

_SRC = textwrap.dedent('''
    import keras
    from keras import layers

    inputs = keras.Input(shape=(12, 12, 3), name="image")
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(5, activation="relu", name="hidden")(x)
    out = layers.Dense(2, activation="softmax", name="pred")(x)
    cnn = keras.Model(inputs, out)

    layer = cnn.get_layer(name="conv")
    grad_model = keras.Model([cnn.inputs], [layer.output, cnn.output])
    names = ["pool", "conv"]
    maps = keras.Model(cnn.get_layer("image").output, [cnn.get_layer(n).output for n in names])
    probe = keras.Model(inputs=cnn.input, outputs=cnn.layers[4].output)
    every = dict([(layer.name, layer.output) for layer in cnn.layers[1:]])
    everything = keras.Model(inputs=cnn.inputs, outputs=every)

    seq = keras.Sequential([
        keras.Input(shape=(10,)),
        layers.Dense(6, activation="relu", name="a"),
        layers.Dropout(0.1),
        layers.Dense(3, name="b"),
    ])
    first = keras.Model(inputs=seq.inputs, outputs=seq.get_layer("a").output)
    points = {name: seq.get_layer(name).output for name in ["b", "a"]}
    both = keras.Model(seq.inputs, points)
''')


@pytest.fixture(scope="module")
def converted() -> tuple[dict[str, Any], dict[str, Any], str]:
    result = convert_source(_SRC, "views.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    assert "keras" not in code, code
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    original = exec_source(_SRC, "k2l_original")
    ours = exec_source(code, "k2l_converted")
    port_weights(original["cnn"], ours["cnn"])  # the model only: views read its modules
    port_weights(original["seq"], ours["seq"])
    for name in ("cnn", "seq", "grad_model", "maps", "probe", "everything", "first", "both"):
        ours[name].eval()
    return original, ours, code


def _run(original: dict[str, Any], ours: dict[str, Any], name: str, shape: tuple[int, ...]
         ) -> tuple[Any, Any]:
    x = np.random.default_rng(1).normal(size=(2, *shape)).astype("float32")
    ref = original[name](x, training=False)
    with torch.no_grad():
        got = ours[name](torch.as_tensor(x))
    return ref, got


def _close(ref: Any, got: torch.Tensor) -> None:
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ref), got.numpy(), atol=1e-5)


@pytest.mark.parametrize("name", ["grad_model", "maps"])
def test_list_of_intermediate_outputs(converted: Any, name: str) -> None:
    original, ours, _ = converted
    ref, got = _run(original, ours, name, (12, 12, 3))
    assert isinstance(got, tuple) and len(got) == len(ref) == 2
    for r, g in zip(ref, got, strict=True):
        assert tuple(r.shape) == tuple(g.shape)  # Keras's channels-last feature maps
        _close(r, g)


def test_layers_index_counts_the_input_layer(converted: Any) -> None:
    original, ours, _ = converted
    ref, got = _run(original, ours, "probe", (12, 12, 3))
    assert original["probe"].output.name == original["cnn"].get_layer("hidden").output.name
    _close(ref, got)


@pytest.mark.parametrize("name, shape", [("everything", (12, 12, 3)), ("both", (10,))])
def test_dict_outputs_keyed_and_ordered_as_keras(converted: Any, name: str,
                                                  shape: tuple[int, ...]) -> None:
    original, ours, _ = converted
    ref, got = _run(original, ours, name, shape)
    assert list(got) == list(ref)  # Keras returns the keys sorted
    for key in ref:
        _close(ref[key], got[key])


def test_single_output_of_a_sequential_model(converted: Any) -> None:
    original, ours, code = converted
    ref, got = _run(original, ours, "first", (10,))
    _close(ref, got)
    assert "model.layers[" not in code and "seq.layers[0]" in code  # its nn.Sequential


def test_views_share_the_modules(converted: Any) -> None:
    _, ours, _ = converted
    assert ours["grad_model"].conv is ours["cnn"].conv
    x = torch.ones(1, 12, 12, 3)
    with torch.no_grad():
        before = ours["probe"](x).clone()
        ours["cnn"].hidden.bias.add_(1.0)  # training the model changes what the view computes
        after = ours["probe"](x)
        ours["cnn"].hidden.bias.sub_(1.0)
    assert not torch.allclose(before, after)


def test_input_layers_left_out_of_a_dict_are_reported() -> None:
    src = _SRC.replace("cnn.layers[1:]", "cnn.layers").replace(', name="image"', "")
    src = src.replace('cnn.get_layer("image").output', "cnn.input")
    result = convert_source(src, "views.py")
    assert any("InputLayer entries of model.layers are left out" in w.message
               for w in result.warnings)


_BUILDER = textwrap.dedent('''
    import keras
    from keras import layers


    def build_model():
        image = keras.Input(shape=(8, 6, 1), name="image")
        x = layers.Conv2D(3, 3, padding="same", activation="relu", name="conv1")(image)
        x = layers.Reshape((8, 18))(x)
        x = layers.Dense(5, activation="softmax", name="dense2")(x)
        return keras.Model(inputs=image, outputs=x, name="reader")


    model = build_model()
    prediction_model = keras.Model(model.get_layer(name="image").output,
                                   model.get_layer(name="dense2").output)
''')


def test_model_from_a_builder_read_through_its_named_input() -> None:
    result = convert_source(_BUILDER, "builder.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    assert "keras" not in result.source
    keras.backend.clear_session()
    install()
    original = exec_source(_BUILDER, "k2l_original")
    ours = exec_source(result.source, "k2l_converted")
    port_weights(original["model"], ours["model"])
    ours["prediction_model"].eval()
    ref, got = _run(original, ours, "prediction_model", (8, 6, 1))
    _close(ref, got)


def test_view_over_a_model_that_stays_keras_stays_keras() -> None:
    """Its class would name modules of a class that does not exist."""
    src = _SRC.replace('layers.Dense(5, activation="relu", name="hidden")(x)',
                       'layers.Dense(5, activation="relu", name="hidden")(x, training=True)')
    result = convert_source(src, "views.py")
    assert "class GradModel" not in result.source and "class Cnn" not in result.source
    assert "grad_model = keras.Model(" in result.source
    assert any("the model over its tensors stays Keras" in u.reason for u in result.unmapped)


def test_a_builders_local_model_name_is_not_the_modules_model() -> None:
    """``model`` inside a builder whose model stays Keras is not the module's ``model``."""
    src = _BUILDER.replace(
        'name="dense2")(x)',
        'name="dense2")(x)\n    x = layers.Dense(4)(x, training=True)').replace(
        '    return keras.Model(inputs=image, outputs=x, name="reader")',
        '    model = keras.Model(inputs=image, outputs=x, name="reader")\n    return model')
    assert "return model" in src
    result = convert_source(src, "builder.py")
    assert "class PredictionModel" not in result.source
    assert "prediction_model = keras.Model(" in result.source


_BLOCKS = textwrap.dedent('''
    import keras
    from keras import layers


    def conv_block(x, filters):
        x = layers.Conv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        return layers.Activation("relu")(x)


    inputs = keras.Input(shape=(10, 10, 3))
    x = conv_block(inputs, 4)
    x = conv_block(x, 6)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    probe = keras.Model(inputs=model.inputs, outputs=model.layers[4].output)
''')


def test_view_over_a_model_whose_helper_became_a_block_class() -> None:
    """The helper called twice is one ``nn.Module`` class in the model: the view reaches the
    modules inside those blocks (``model.conv_blocks[0].conv2d``), not attributes the model
    no longer has."""
    result = convert_source(_BLOCKS, "blocks.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    assert "class ConvBlock(nn.Module)" in code and "model.conv_blocks[0].conv2d" in code, code
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    original = exec_source(_BLOCKS, "k2l_original")
    ours = exec_source(code, "k2l_converted")
    port_weights(original["model"], ours["model"])
    ours["probe"].eval()
    ref, got = _run(original, ours, "probe", (10, 10, 3))
    assert tuple(ref.shape) == tuple(got.shape)
    _close(ref, got)
