"""Normalization adapted on data before the model (training/adapted_norms.py): the converted
script computes the statistics itself (runtime adapt_normalization) and the model holds them
as buffers; outputs compared with Keras 3 (torch backend) adapting the same data."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import numpy as np
import pytest
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.rules.training.runtime.data_layers import adapt_normalization

pytestmark = pytest.mark.slow

DATA = ("import numpy as np\n"
        "rng = np.random.default_rng(3)\n"
        "x_data = rng.normal(4.0, 3.0, size=(64, 5, 3)) * np.array([1.0, 10.0, 0.1])\n")

SEQUENTIAL = DATA + """import keras
from keras import layers

norm = layers.Normalization({args})
norm.adapt(x_data)
model = keras.Sequential([
    keras.Input(shape=(5, 3)),
    norm,
    layers.Dense(2, kernel_initializer="ones"),
])
"""

FUNCTIONAL = DATA + """import keras
from keras import layers

inputs = keras.Input(shape=(5, 3))
scaler = layers.Normalization(axis=-1{args})
# the statistics of the training data
scaler.adapt(data=x_data.astype("float32"))
outputs = layers.Dense(4, kernel_initializer="ones")(scaler(inputs))
model = keras.Model(inputs, outputs)
"""


def _compare(src: str) -> str:
    result = convert_source(src, "adapted.py")
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "keras" not in result.source
    original = exec_source(src, "k2l_original")["model"]
    converted = exec_source(result.source, "k2l_converted")["model"]
    x = np.random.default_rng(5).normal(2.0, 5.0, size=(7, 5, 3)).astype(np.float32)
    want = np.asarray(original(x).detach().cpu())  # type: ignore[operator]
    got = converted(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    return result.source


@pytest.mark.parametrize(("template", "args"), [(SEQUENTIAL, ""), (SEQUENTIAL, "axis=None"),
                                                (FUNCTIONAL, ""), (FUNCTIONAL, ", invert=True")])
def test_adapted_normalization_matches_keras(template: str, args: str) -> None:
    src = template.format(args=args)
    out = _compare(src)
    assert "adapt_normalization(x_data" in out
    assert 'register_buffer("' in out  # the statistics travel in the state_dict
    if template is FUNCTIONAL:  # the user's comment above the adapt is kept
        assert "# the statistics of the training data" in out


def test_statistics_in_state_dict() -> None:
    result = convert_source(SEQUENTIAL.format(args=""), "adapted.py")
    model = exec_source(result.source, "k2l_converted")["model"]
    data = exec_source(DATA, "k2l_data")["x_data"]
    state = model.state_dict()
    means = [v for k, v in state.items() if k.endswith("_mean")]
    assert len(means) == 1
    np.testing.assert_allclose(means[0].numpy(), data.mean(axis=(0, 1)), rtol=1e-6)


def test_batches_combine_to_the_whole_data() -> None:
    """Keras's batch-by-batch formula (iterables, tuples give their inputs) equals the
    statistics of the whole array; ddof=0."""
    x = np.random.default_rng(0).normal(1.0, 2.0, size=(50, 3)).astype(np.float32)
    batches = [(torch.from_numpy(x[k:k + 16]), torch.zeros(16)) for k in range(0, 50, 16)]
    mean, var = adapt_normalization(batches)
    whole_mean, whole_var = adapt_normalization(x)
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(var, x.var(axis=0), rtol=1e-4)
    np.testing.assert_allclose(whole_var, x.var(axis=0), rtol=1e-6)
    assert mean.dtype == whole_mean.dtype == np.float32
    mean2, _ = adapt_normalization(x.reshape(10, 5, 3), axis=(1, 2))
    assert mean2.shape == (5, 3)


@pytest.mark.parametrize("between", ["norm(x_data[:2])\n", ""])
def test_not_understood_stays_reported(between: str) -> None:
    """Used before its adapt, or over a middle axis: reported as before, the adapt call as
    written."""
    args = "" if between else "axis=1"
    src = SEQUENTIAL.format(args=args).replace("norm.adapt(x_data)\n",
                                               between + "norm.adapt(x_data)\n")
    result = convert_source(src, "adapted.py")
    assert any("adapt" in u.reason for u in result.unmapped) or any(
        u.keras_name == "Normalization" for u in result.unmapped)
    assert "norm.adapt(x_data)" in result.source
    assert "adapt_normalization" not in result.source


def test_report_lines_are_the_source_lines() -> None:
    """The constructor moves below its adapt in the rewritten code; the report still names
    the user's lines: the layer at its constructor, the statistics at its adapt."""
    src = FUNCTIONAL.format(args="")
    lines = src.splitlines()
    ctor = next(n for n, t in enumerate(lines, 1) if t.startswith("scaler = "))
    adapt = next(n for n, t in enumerate(lines, 1) if t.startswith("scaler.adapt("))
    dense = next(n for n, t in enumerate(lines, 1) if t.startswith("outputs = "))
    result = convert_source(src, "adapted.py")
    by_rule = {c.rule: c.line for c in result.changes}
    assert by_rule["layers.Normalization"] == ctor
    assert by_rule["layers.Normalization.adapt"] == adapt
    assert by_rule["layers.Dense"] == dense


BUILDERS = DATA + """import keras
from keras import layers


def build_dense(features):
    norm = layers.Normalization()
    norm.adapt(features)
    inputs = keras.Input(shape=(5, 3))
    outputs = layers.Dense(2, kernel_initializer="ones")(norm(inputs))
    return keras.Model(inputs, outputs)


def build_wide(features):
    norm = layers.Normalization(axis=None)
    norm.adapt(features)
    inputs = keras.Input(shape=(5, 3))
    outputs = layers.Dense(3, kernel_initializer="ones")(norm(inputs))
    return keras.Model(inputs, outputs)


model = build_{which}(x_data)
"""


@pytest.mark.parametrize("which", ["dense", "wide"])
def test_adapted_in_a_builder_matches_keras(which: str) -> None:
    """A builder function that makes the layer, adapts it and returns the model: the statistics
    are computed in the builder and passed to the model class (two builders use the same
    local names)."""
    out = _compare(BUILDERS.format(which=which))
    assert out.count("norm_mean, norm_variance = adapt_normalization(features") == 2
    assert "norm.adapt" not in out


def test_builder_report_lines_are_the_source_lines() -> None:
    src = BUILDERS.format(which="wide")
    lines = src.splitlines()
    ctors = [n for n, t in enumerate(lines, 1) if t.startswith("    norm = ")]
    adapts = [n for n, t in enumerate(lines, 1) if t.startswith("    norm.adapt(")]
    result = convert_source(src, "adapted.py")
    assert sorted(c.line for c in result.changes if c.rule == "layers.Normalization") == ctors
    assert sorted(c.line for c in result.changes
                  if c.rule == "layers.Normalization.adapt") == adapts
