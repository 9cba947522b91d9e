"""port_weights pairs by structure, not names (issue 11, item 5)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.tf_shim import install
from agent.weights import PortError, port_weights
from cli import app

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.slow

FUNCTIONAL = textwrap.dedent('''\
    import keras
    from keras import layers


    def build_model():
        inputs = keras.Input(shape=(6,))
        x = layers.Dense(8, activation="relu")(inputs)
        x = layers.Dense(8, activation="tanh")(x)
        return keras.Model(inputs, layers.Dense(3)(x))
    ''')

CUSTOM = textwrap.dedent('''\
    import keras
    from keras import layers


    class Scale(layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                          initializer="glorot_uniform")
            self.offset = self.add_weight(shape=(self.units,), initializer="random_normal")

        def call(self, inputs):
            return keras.ops.matmul(inputs, self.kernel) + self.offset


    def build_model():
        inputs = keras.Input(shape=(5,))
        x = Scale(4)(inputs)
        return keras.Model(inputs, layers.Dense(2)(x))
    ''')


def _both(source: str, builder: str = "build_model()") -> tuple[Any, Any]:
    conv = convert_source(source, "model.py")
    assert not conv.unmapped, conv.unmapped
    install()
    original = eval(builder, exec_source(source, "k2l_original"))
    converted = eval(builder, exec_source(conv.source, "k2l_converted"))
    return original, converted


def _same_outputs(original: Any, module: Any, shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    ref = keras.ops.convert_to_numpy(original(x, training=False))
    module.eval()
    with torch.no_grad():
        got = module(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_model_built_after_others_in_one_process_ports() -> None:
    keras.utils.set_random_seed(3)
    keras.backend.clear_session()
    # move Keras's name counters by one: the model's layers are dense_1, dense_2, dense_3,
    # and the first two names are also names of the converted module's children
    keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(8)])
    original, module = _both(FUNCTIONAL)
    names = [layer.name for layer in original.layers if layer.weights]
    assert names[0] != "dense"  # the counters did move
    port_weights(original, module)
    _same_outputs(original, module, (4, 6))


TWO_BRANCHES = textwrap.dedent('''\
    import keras
    from keras import layers


    def build_model():
        first = keras.Input(shape=(6,))
        second = keras.Input(shape=(6,))
        a = layers.Dense(4)(first)
        b = layers.Dense(4, activation="tanh")(second)
        return keras.Model([first, second], layers.Subtract()([b, a]))
    ''')


def test_layers_listed_out_of_creation_order_pair_with_their_own_modules() -> None:
    """Keras lists a functional model's layers in graph order: the output reads the second
    branch first, so ``dense_1`` comes before ``dense``; the converted class declares them
    in the source's order. Same kind, same shapes: only creation order can pair them."""
    keras.utils.set_random_seed(5)
    keras.backend.clear_session()
    original, module = _both(TWO_BRANCHES)
    assert [lyr.name for lyr in original.layers if lyr.weights] == ["dense_1", "dense"]
    port_weights(original, module)
    rng = np.random.default_rng(0)
    x1, x2 = (rng.normal(size=(3, 6)).astype("float32") for _ in range(2))
    ref = keras.ops.convert_to_numpy(original([x1, x2], training=False))
    module.eval()
    with torch.no_grad():
        got = module(torch.as_tensor(x1), torch.as_tensor(x2)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_custom_layer_with_unnamed_weights_ports_in_creation_order() -> None:
    keras.utils.set_random_seed(4)
    original, module = _both(CUSTOM)
    scale = next(lyr for lyr in original.layers if type(lyr).__name__ == "Scale")
    assert all("variable" in w.name or w.name in ("kernel", "offset") for w in scale.weights)
    port_weights(original, module)
    _same_outputs(original, module, (3, 5))


def test_lazy_module_is_initialised_inside_the_port() -> None:
    keras.utils.set_random_seed(5)
    original = keras.Sequential([keras.Input(shape=(7,)), keras.layers.Dense(3)])

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = torch.nn.LazyLinear(3)
            self.example_input_array = torch.zeros(1, 7)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.dense(x)

    module = Net()
    port_weights(original, module)  # no forward pass by the user
    _same_outputs(original, module, (2, 7))


def test_shapes_that_truly_do_not_fit_fail_naming_the_layer() -> None:
    original = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3, name="head")])
    module = torch.nn.Sequential()
    module.add_module("head", torch.nn.Linear(5, 3))
    with pytest.raises(PortError, match=r"head \(Dense\): no torch module left fits"):
        port_weights(original, module)


def test_accepts_a_saved_model_path(tmp_path: Path) -> None:
    keras.utils.set_random_seed(6)
    original, module = _both(FUNCTIONAL)
    saved = tmp_path / "trained.keras"
    original.save(saved)
    port_weights(saved, module)
    _same_outputs(original, module, (2, 6))


def test_cli_names_a_missing_custom_class_in_one_line(tmp_path: Path) -> None:
    keras.utils.set_random_seed(7)
    original, _ = _both(CUSTOM)
    saved = tmp_path / "trained.keras"
    original.save(saved)
    converted = tmp_path / "converted.py"
    converted.write_text(convert_source(CUSTOM, "model.py").source)
    result = CliRunner().invoke(app, ["port-weights", str(saved), f"{converted}:build_model()",
                                      str(tmp_path / "w.pt")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Scale" in lines[0] and "--keras-builder" in lines[0]
