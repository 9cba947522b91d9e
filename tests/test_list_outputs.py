"""A custom layer returning a LIST of tensors in a functional graph (attention weights, one
per instance of a bag): ``alpha = Scores(...)(embeddings)`` bound to one name, then read by
index, measured with ``len``, multiplied item by item and concatenated; and a view model over
that layer's output list. The list's length is read from the converted ``forward``
(list_returns.py). TF stacks a list passed to ``tf.math.softmax`` (packing.py). Checked
against Keras 3 (torch backend) for the model and the view, against TensorFlow for the
stacked softmax, and run without TensorFlow."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import re
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import keras
import libcst as cst
import numpy as np
import pytest
import torch
from without_tf import run_without_tf

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.rules.models.list_returns import ListReturn, list_returns
from agent.tf_shim import install
from agent.tools.tf_original import tf_python
from agent.weights import port_weights

pytestmark = pytest.mark.slow

IMPORTS = re.compile(r"^\s*(import|from)\s+(keras|tensorflow)\b", re.M)

_LAYER = '''
class Scores(layers.Layer):
    """Attention weights over a bag: one (batch, 1) score per instance, softmax across them."""

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim

    def build(self, input_shape):
        self.v = self.add_weight(shape=(input_shape[0][1], self.dim), name="v")
        self.w = self.add_weight(shape=(self.dim, 1), name="w")

    def call(self, inputs):
        scores = [{m}.tensordot({m}.tanh({m}.tensordot(t, self.v, axes=1)), self.w, axes=1)
                  for t in inputs]
        alpha = {softmax}
        return [alpha[i] for i in range(alpha.shape[0])]
'''

_GRAPH = '''
BAG = 3
inputs, embeddings = [], []
shared = layers.Dense(8, activation="relu", name="shared")
for _ in range(BAG):
    inp = layers.Input((6,))
    inputs.append(inp)
    embeddings.append(shared(inp))

alpha = Scores(5, name="alpha")(embeddings)
weighted = [layers.multiply([alpha[i], embeddings[i]]) for i in range(len(alpha))]
concat = layers.concatenate(weighted, axis=1)
output = layers.Dense(2, activation="softmax", name="head")(concat)
model = keras.Model(inputs, output)
attention = keras.Model(model.input, model.get_layer("alpha").output)
'''

# Keras 3: keras.ops does not stack a list passed as one tensor, so the stack is written
KERAS3 = "import numpy as np\nimport keras\nfrom keras import layers, ops\n" + _LAYER.format(
    m="ops", softmax="ops.softmax(ops.stack(scores), axis=0)") + _GRAPH

# tf.keras: tf.math.softmax stacks the list itself
TF_SCRIPT = ("import numpy as np\nimport tensorflow as tf\nfrom tensorflow import keras\n"
             "from tensorflow.keras import layers\n") + _LAYER.format(
    m="tf", softmax="tf.math.softmax(scores, axis=0)") + _GRAPH + textwrap.dedent('''
    data = [np.linspace(-1.0, 1.0, 24).reshape(4, 6).astype("float32") * (k + 1)
            for k in range(BAG)]
    weights = attention.predict(data)
    print("SHAPES", [w.shape for w in weights])
    print("SUMS", np.round(np.sum(weights, axis=0).ravel(), 5).tolist())
    print("PRED", model.predict(data).shape)
''')


def _bags() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.normal(size=(5, 6)).astype("float32") for _ in range(3)]


@pytest.fixture(scope="module")
def converted() -> tuple[dict[str, Any], dict[str, Any], str]:
    result = convert_source(KERAS3, "bags.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    assert not IMPORTS.search(code), code
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    original = exec_source(KERAS3, "k2l_original")
    ours = exec_source(code, "k2l_converted")
    port_weights(original["model"], ours["model"])
    ours["model"].eval()
    return original, ours, code


def test_the_list_is_unpacked_and_read_item_by_item(converted: Any) -> None:
    _, _, code = converted
    assert re.search(r"alpha_0, alpha_1, alpha_2 = self\.alpha\(\[\w+, \w+, \w+\]\)", code), code
    assert "torch.cat([" in code and "nn.LazyLinear(2)" in code, code


def test_model_matches_keras(converted: Any) -> None:
    original, ours, _ = converted
    bags = _bags()
    ref = keras.ops.convert_to_numpy(original["model"](bags, training=False))
    with torch.no_grad():
        got = ours["model"](*(torch.as_tensor(b) for b in bags)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_view_over_the_list_output_matches_keras(converted: Any) -> None:
    original, ours, _ = converted
    bags = _bags()
    ref = original["attention"].predict(bags, verbose=0)
    assert isinstance(ref, list) and len(ref) == 3
    assert ours["attention"].alpha is ours["model"].alpha  # the view shares the modules
    with torch.no_grad():
        got = ours["attention"](*(torch.as_tensor(b) for b in bags))
    assert len(got) == 3
    for r, g in zip(ref, got, strict=True):
        np.testing.assert_allclose(g.numpy(), r, atol=1e-5)


def test_tf_script_converts_runs_without_tensorflow_and_matches_tf(tmp_path: Path) -> None:
    result = convert_source(TF_SCRIPT, "bags.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    assert not IMPORTS.search(result.source), result.source
    assert "F.softmax(torch.stack(scores), dim=0)" in result.source, result.source
    ours = run_without_tf(result.source, tmp_path)
    assert ours.returncode == 0, ours.stderr[-3000:]
    lines = [ln for ln in ours.stdout.splitlines() if ln.startswith(("SHAPES", "SUMS", "PRED"))]
    # softmax across the bag: the three weights of each row sum to one
    assert lines == ["SHAPES [(4, 1), (4, 1), (4, 1)]", "SUMS [1.0, 1.0, 1.0, 1.0]",
                     "PRED (4, 2)"], ours.stdout
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0] or ""
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    original = tmp_path / "original.py"
    original.write_text(TF_SCRIPT, encoding="utf-8")
    theirs = subprocess.run([python, str(original)], capture_output=True, text=True,
                            timeout=300, check=False,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                                 "KERAS_BACKEND": "tensorflow", "CUDA_VISIBLE_DEVICES": ""})
    assert theirs.returncode == 0, theirs.stderr[-3000:]
    assert [ln for ln in theirs.stdout.splitlines()
            if ln.startswith(("SHAPES", "SUMS", "PRED"))] == lines


def _returns(body: str) -> ListReturn | None:
    module = cst.parse_module("class Layer:\n    def forward(self, inputs):\n"
                              + textwrap.indent(body, " " * 8) + "\n")
    return list_returns(module).get("Layer")


@pytest.mark.parametrize("body, fixed, per_input", [
    ("return a, b", 2, False),
    ("return [a, b, c]", 3, False),
    ("return [f(t) for t in inputs]", None, True),
    ("s = [f(t) for t in inputs]\nreturn [s[i] for i in range(len(s))]", None, True),
    ("a = F.softmax(torch.stack([g(t) for t in inputs]), dim=0)\n"
     "return [a[i] for i in range(a.shape[0])]", None, True),
])
def test_list_lengths_read_from_forward(body: str, fixed: int | None, per_input: bool) -> None:
    found = _returns(body)
    assert found is not None and found.fixed == fixed and found.per_input is per_input
    assert found.count(4) == (fixed if fixed is not None else 4)


@pytest.mark.parametrize("body", [
    "return inputs",  # not a list built here: one tensor, as before
    "a = torch.stack(inputs, dim=1)\nreturn [a[i] for i in range(a.shape[0])]",  # axis 1
    "s = [f(t) for t in inputs]\ns = s[1:]\nreturn [x for x in s]",  # rebound: unknown
    "if c:\n    return [a]\nreturn [a, b]",  # two returns
    "return [a for a in range(n)]",
])
def test_list_lengths_not_known_stay_unknown(body: str) -> None:
    assert _returns(body) is None


def test_a_list_of_shape_ints_is_not_stacked() -> None:
    src = textwrap.dedent('''
        import tensorflow as tf
        from tensorflow.keras import layers


        class Pad(layers.Layer):
            def call(self, parts):
                sizes = [tf.shape(p)[0] for p in parts]
                longest = tf.reduce_max(sizes)
                weights = [tf.reduce_sum(p) for p in parts]
                return tf.nn.softmax(weights), longest
    ''')
    code = convert_source(src, "pad.py").source
    assert "torch.stack(sizes)" not in code, code
    assert "F.softmax(torch.stack(weights), dim=-1)" in code, code
