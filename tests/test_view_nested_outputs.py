"""View models over layers with several outputs: ``keras.Model(model.input,
[model.get_layer(n).output for n in names])`` where a custom layer's ``call`` returns
``(output, gate)``, so its ``.output`` is a list of two tensors and ``predict`` gives nested
lists of arrays. The view shares the converted model's modules, ``get_layer`` finds a layer by
the script's ``name=`` even where the module attribute had to be renamed, and ``predict``
becomes ``keras_predict`` (eval mode, no gradients, arrays nested as Keras's)."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import re
import textwrap
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import torch
from without_tf import run_without_tf

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.rules.training.runtime.batches import keras_predict
from agent.tf_shim import install
from agent.weights import port_weights

pytestmark = pytest.mark.slow

IMPORTS = re.compile(r"^\s*(import|from)\s+(keras|tensorflow)\b", re.M)

_MODELS = textwrap.dedent('''
    import numpy as np
    import keras
    from keras import layers, ops


    class Gated(layers.Layer):
        """Mixes the channels and returns the result with the gate it computed."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                          initializer="glorot_uniform", name="kernel")

        def call(self, x):
            y = ops.matmul(x, self.kernel)
            return y, ops.sigmoid(y)


    probe_in = keras.Input(shape=(8, 8, 3))
    probe_out, _ = Gated(2, name="gated_1")(probe_in)
    probe = keras.Model(probe_in, probe_out)

    inputs = keras.Input(shape=(8, 8, 3))
    x, _ = Gated(4, name="gated_1")(inputs)
    x = layers.ReLU()(x)
    x = layers.Conv2D(5, 3, name="conv")(x)
    x, _ = Gated(3, name="gated_2")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(2)(x)
    model = keras.Model(inputs=[inputs], outputs=[outputs], name="gated_model")

    names = ["gated_1", "gated_2"]
    outputs = [model.get_layer(name).output for name in names]
    vis_model = keras.Model(model.input, outputs)
    mixed = keras.Model(model.inputs, [model.get_layer("gated_2").output,
                                       model.get_layer("conv").output])
    pair = keras.Model(inputs, model.get_layer("gated_1").output)
''')

_SCRIPT = _MODELS + textwrap.dedent('''
    images = np.random.default_rng(0).uniform(size=(3, 8, 8, 3))
    for image in images[:2]:
        (first_out, second_out) = vis_model.predict(image[None, ...])
        _, first_gate = first_out
        _, second_gate = second_out
        print("GATES", first_gate.shape, second_gate.shape, type(first_out).__name__)
''')


@pytest.fixture(scope="module")
def converted() -> tuple[dict[str, Any], dict[str, Any], str]:
    result = convert_source(_MODELS, "views.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    assert not IMPORTS.search(code), code
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    original = exec_source(_MODELS, "k2l_original")
    ours = exec_source(code, "k2l_converted")
    port_weights(original["model"], ours["model"])  # the model only: views read its modules
    return original, ours, code


def _images() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(5, 8, 8, 3)).astype("float32")


def _same(ref: Any, got: Any) -> None:
    """Same nesting (lists where Keras gives lists), same shapes, same numbers."""
    if isinstance(ref, (list, tuple)):
        assert isinstance(got, list) and len(got) == len(ref), (type(got), got)
        for r, g in zip(ref, got, strict=True):
            _same(r, g)
        return
    assert isinstance(got, np.ndarray) and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_the_view_reads_the_renamed_module_by_its_keras_name(converted: Any) -> None:
    _, ours, code = converted
    # the probe model took the attribute gated_1: the view's layer is gated_1_1
    assert "self.gated_1_1 = model.gated_1_1" in code, code
    assert ours["vis_model"].gated_1_1 is ours["model"].gated_1_1
    assert "return (gated_1_1_output, gated_1_1_output_2), (x, gated_2_output)" in code, code


@pytest.mark.parametrize("name", ["vis_model", "mixed", "pair"])
def test_predict_of_nested_outputs_matches_keras(converted: Any, name: str) -> None:
    original, ours, _ = converted
    x = _images()
    ref = original[name].predict(x, batch_size=2, verbose=0)
    got = keras_predict(ours[name], x, batch_size=2)
    _same(ref, got)


def test_calling_the_view_gives_the_nested_tensors(converted: Any) -> None:
    original, ours, _ = converted
    x = _images()
    ref = original["mixed"](x, training=False)
    with torch.no_grad():
        got = ours["mixed"](torch.as_tensor(x))
    (gated, gate), conv = got
    assert isinstance(gated, torch.Tensor) and isinstance(conv, torch.Tensor)
    for r, g in zip([*ref[0], ref[1]], [gated, gate, conv], strict=True):
        np.testing.assert_allclose(g.numpy(), keras.ops.convert_to_numpy(r), atol=1e-5)


def test_predict_becomes_keras_predict_and_runs_without_tensorflow(tmp_path: Path) -> None:
    result = convert_source(_SCRIPT, "views.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    assert "(first_out, second_out) = keras_predict(vis_model, image[None, ...])" \
        in result.source, result.source
    run = run_without_tf(result.source, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("GATES (1, 8, 8, 4) (1, 6, 6, 3) list") == 2, run.stdout


def test_keras_predict_nests_arrays_as_the_outputs_nest() -> None:
    class Nested(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> Any:
            return (x + 1, x * 2), x - 1

    x = np.arange(10, dtype="float32").reshape(5, 2)
    (plus, twice), minus = keras_predict(Nested(), x, batch_size=2)
    np.testing.assert_array_equal(plus, x + 1)
    np.testing.assert_array_equal(twice, x * 2)
    np.testing.assert_array_equal(minus, x - 1)


def test_a_functional_model_with_nested_outputs_is_reported() -> None:
    src = _MODELS.split("names = ")[0] + textwrap.dedent('''
        a, gate = Gated(4, name="gated_3")(inputs)
        nested = keras.Model(inputs, [[a, gate], a])
    ''')
    result = convert_source(src, "nested.py")
    reasons = " ".join(u.reason for u in result.unmapped)
    assert "outputs nest lists of tensors" in reasons, reasons
