"""Functional graphs as real scripts build them: attention over a bag (softmax over the batch
axis), ``Input``s made in loops, and helpers left dead once their callers are converted.

Models are compared with their Keras originals (Keras 3, torch backend) after porting the
weights; a script that becomes torch-only is run (one Lightning ``fast_dev_run``-style fit).
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap
from pathlib import Path
from typing import Any

import keras
import pytest

from agent.equivalence import compare, exec_source
from agent.rules.convert import convert_source
from agent.tf_shim import install
from agent.tools.fast_dev_run import Worker

pytestmark = pytest.mark.slow

HEAD = "import keras\nimport numpy as np\nfrom keras import layers\n\n"


def converted(src: str, builder: str) -> tuple[str, Any]:
    """Convert cleanly, build both sides, port the weights, compare the outputs."""
    src = HEAD + textwrap.dedent(src)
    result = convert_source(src, "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    assert "keras" not in code.replace("Keras", ""), code
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    keras_model = eval(builder, exec_source(src, "k2l_original"))
    module = eval(builder, exec_source(code, "k2l_converted"))
    eq = compare(keras_model, module)
    assert eq.passed, f"{eq.message}\n{code}"
    return code, result


def runs(code: str, tmp_path: Path) -> None:
    path = tmp_path / "script.py"
    path.write_text(code)
    with Worker(kill_grace_s=3.0) as worker:
        run = worker.run_script(path, time_limit_s=90)
    assert run.status == "passed", run.message + "".join(d.message for d in run.diagnostics)


ATTENTION_BAG = '''\
BAG = 3


def bag_model(features=(6,)):
    inputs, embedded = [], []
    shared = layers.Dense(5, activation="tanh")
    for _ in range(BAG):
        inp = layers.Input(features)
        inputs.append(inp)
        embedded.append(shared(inp))
    scores = [layers.Dense(1)(embedded[i]) for i in range(BAG)]
    attention = layers.Softmax(axis=0)(layers.concatenate(scores))
    pooled = layers.concatenate(embedded, axis=1)
    out = layers.Dense(2, activation="softmax")(layers.concatenate([pooled, attention]))
    return keras.Model(inputs, out)
'''


def test_softmax_over_the_batch_axis_converts_as_keras_computes_it(tmp_path: Path) -> None:
    """Attention-MIL models normalise scores across the bag, Keras's batch axis."""
    code, _ = converted(ATTENTION_BAG, "bag_model()")
    assert "F.softmax(h_6, dim=0)" in code, code
    assert "def forward(self, inp: torch.Tensor, inp_2: torch.Tensor, inp_3: torch.Tensor)" \
        in code, code
    script = HEAD + ATTENTION_BAG + textwrap.dedent('''
        model = bag_model()
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        first, second, third = np.random.rand(3, 8, 6).astype("float32")
        labels = np.eye(2, dtype="float32")[np.arange(8) % 2]
        model.fit([first, second, third], labels, epochs=1, batch_size=4)
        ''')
    result = convert_source(script, "script.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    runs(result.source, tmp_path)


NESTED_HELPERS = '''\
def conv_unit(x, filters):
    x = layers.Conv1D(filters, 1)(x)
    return layers.Activation("relu")(x)


def feature_net(x, width):
    x = conv_unit(x, width)
    x = conv_unit(x, width * 2)
    return layers.GlobalMaxPooling1D()(x)


def head(inputs, width):
    return layers.Dense(3)(feature_net(inputs, width))


def point_model(points=16):
    inputs = keras.Input(shape=(points, 3))
    return keras.Model(inputs, head(inputs, 4))
'''


def test_helpers_only_dead_helpers_called_are_dropped_and_reported(tmp_path: Path) -> None:
    code, result = converted(NESTED_HELPERS, "point_model()")
    for name in ("conv_unit", "feature_net", "head"):
        assert f"def {name}(" not in code, code
        notes = [c.message for c in result.changes if f"helper {name}()" in c.message]
        assert notes == [f"helper {name}() inlined, its definition dropped (nothing calls it "
                         "any more)"], notes
    script = HEAD + NESTED_HELPERS + textwrap.dedent('''
        model = point_model()
        model.compile(optimizer="adam", loss="mse")
        model.fit(np.random.rand(8, 16, 3), np.random.rand(8, 3), epochs=1, batch_size=4)
        ''')
    result = convert_source(script, "script.py")
    assert not result.unmapped and not result.keras_deps, result.keras_deps
    runs(result.source, tmp_path)


def test_a_helper_still_called_or_exported_stays() -> None:
    src = HEAD + '__all__ = ["conv_unit"]\n\n' + textwrap.dedent(NESTED_HELPERS) + \
        "\n\ndef other(x):\n    return feature_net(x, 2)\n"
    code = convert_source(src, "model.py").source
    assert "def conv_unit(" in code and "def feature_net(" in code, code
    assert "def head(" not in code, code
