"""Functional graphs as real scripts build them: attention over a bag (softmax over the batch
axis), ``Input``s made in loops, and helpers left dead once their callers are converted.

Models are compared with their Keras originals (Keras 3, torch backend) after porting the
weights; a script that becomes torch-only is run (one Lightning ``fast_dev_run``-style fit).
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import re
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
    assert re.search(r"F\.softmax\(h_\d+, dim=0\)", code), code
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


# --------------------------------------------------------------- constants inside graphs

TABLE = "ANGLES = np.linspace(0.0, 1.0, 6 * 4).reshape(6, 4).astype('float32')\n\n\n"

POSITION_TABLE = TABLE + '''\
def with_positions(maxlen=6, vocab=20, dim=4):
    tokens = layers.Input(shape=(maxlen,))
    tok = layers.Embedding(vocab, dim)(tokens)
    pos = layers.Embedding(maxlen, dim, embeddings_initializer=keras.initializers.Constant(
        ANGLES))(keras.ops.arange(0, maxlen, 1))
    x = tok + pos
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(tokens, layers.Dense(2)(x))
'''


def test_a_layer_keras_ran_on_a_constant_is_a_buffer_computed_once(tmp_path: Path) -> None:
    """Keras runs ``Embedding(...)(arange(...))`` while building: the model keeps its output,
    not the layer (its weights are no model weights). The class does the same in
    ``__init__``: a buffer, the layer a local, its parameters not the module's."""
    code, result = converted(POSITION_TABLE, "with_positions()")
    assert 'self.register_buffer("pos", embedding_1(self.constant), persistent=False)' \
        in code, code
    assert "x = tok + self.pos" in code, code
    assert "with torch.no_grad():" in code, code
    assert any("ran once on a constant" in w.message for w in result.warnings)
    keras.utils.set_random_seed(0)
    original = eval("with_positions()", exec_source(HEAD + POSITION_TABLE, "k2l_original"))
    module = eval("with_positions()", exec_source(code, "k2l_converted"))
    assert sum(p.numel() for p in module.parameters()) == original.count_params()
    script = HEAD + POSITION_TABLE + textwrap.dedent('''
        model = with_positions()
        model.compile(optimizer="adam", loss="mse")
        model.fit(np.arange(48).reshape(8, 6) % 20, np.random.rand(8, 2), epochs=1, batch_size=4)
        ''')
    result = convert_source(script, "script.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    runs(result.source, tmp_path)


SCALED_POSITIONS = TABLE + '''\
def scaled(maxlen=6, dim=4):
    inp = layers.Input(shape=(maxlen, dim))
    positions = keras.ops.arange(maxlen)
    scale = keras.ops.cast(positions, "float32") / maxlen
    table = keras.ops.convert_to_tensor(ANGLES)
    x = inp * scale[:, None] + table
    x = layers.Flatten()(x)
    return keras.Model(inp, layers.Dense(3)(x))
'''


def test_constants_combined_with_graph_tensors_are_buffers() -> None:
    code, _ = converted(SCALED_POSITIONS, "scaled()")
    assert 'self.register_buffer("positions", torch.arange(maxlen), persistent=False)' \
        in code, code
    assert "self.register_buffer(\n" in code or 'self.register_buffer("table"' in code, code
    assert "nn.Linear(maxlen * dim, 3)" in code, code  # the sizes stay known


RANDOM_POSITIONS = '''\
def random_positions(maxlen=5, dim=3):
    inp = layers.Input(shape=(maxlen, dim))
    pos = layers.Embedding(maxlen, dim)(keras.ops.arange(maxlen))
    return keras.Model(inp, layers.Dense(2)(inp + pos))
'''


def test_a_layer_on_a_constant_draws_keras_initial_weights_once() -> None:
    """The buffer holds what Keras's initializer drew (uniform in +-0.05): the values differ
    from Keras's own draw, so only their range and the trainable weights are compared."""
    result = convert_source(HEAD + RANDOM_POSITIONS, "model.py")
    assert not result.unmapped, result.unmapped
    module = eval("random_positions()", exec_source(result.source, "k2l_converted"))
    original = eval("random_positions()", exec_source(HEAD + RANDOM_POSITIONS, "k2l_original"))
    assert sum(p.numel() for p in module.parameters()) == original.count_params()
    assert module.pos.shape == (5, 3) and float(module.pos.abs().max()) <= 0.05
    assert "nn.init.uniform_(embedding.weight, -0.05, 0.05)" in result.source
    assert "pos" not in module.state_dict()  # Keras saves no such weight either


def test_a_layer_used_on_a_constant_and_in_the_graph_is_reported() -> None:
    src = HEAD + '''\
def shared_table(maxlen=5):
    inp = layers.Input(shape=(maxlen,))
    table = layers.Embedding(maxlen, 3)
    x = table(inp) + table(keras.ops.arange(maxlen))
    return keras.Model(inp, x)
'''
    result = convert_source(src, "model.py")
    assert any("called on a constant tensor" in u.reason for u in result.unmapped), \
        result.unmapped


def test_constants_the_graph_does_not_read_stay_eager_code() -> None:
    """A range fed to a script function or a comprehension is no graph node: the statement
    stays as written (converted by the op rules, not moved into a class)."""
    src = HEAD + '''\
schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
steps = keras.ops.arange(30)
rates = [schedule(step) for step in steps]


def rays(near, far, samples):
    depths = keras.ops.linspace(near, far, samples)
    return depths * 2.0


inputs = keras.Input(shape=(4,))
model = keras.Model(inputs, layers.Dense(2)(inputs))
'''
    result = convert_source(src, "model.py")
    assert not any("steps" in u.reason or "depths" in u.reason for u in result.unmapped), \
        result.unmapped
    assert "rates = [schedule(step) for step in steps]" in result.source
    assert "register_buffer" not in result.source


def test_a_builder_annotated_as_returning_a_keras_model_returns_the_class() -> None:
    src = HEAD + '''\
def make(units: int = 3) -> keras.Model:
    inputs = keras.Input(shape=(4,))
    return keras.Model(inputs, layers.Dense(units)(inputs))
'''
    result = convert_source(src, "model.py")
    assert "def make(units: int = 3) -> Make:" in result.source, result.source
    assert not result.keras_deps, result.keras_deps


# --------------------------------------------------------------- inputs made in loops

INPUT_LIST = '''\
VIEWS = 3


def views_model(dim=5):
    inputs = [layers.Input((dim,)) for _ in range(VIEWS)]
    shared = layers.Dense(4, activation="relu")
    embedded = [shared(inp) for inp in inputs]
    return keras.Model(inputs, layers.Dense(2)(layers.concatenate(embedded)))
'''


def test_inputs_made_by_a_comprehension_are_forward_parameters() -> None:
    code, _ = converted(INPUT_LIST, "views_model()")
    assert "inputs_0: torch.Tensor,\n        inputs_1: torch.Tensor,\n        inputs_2:" in code


def test_inputs_counted_by_a_builder_parameter_assume_its_default() -> None:
    src = INPUT_LIST.replace("def views_model(dim=5)", "def views_model(dim=5, views=2)") \
        .replace("range(VIEWS)", "range(views)")
    code, result = converted(src, "views_model()")
    assert 'assert views == 2, "k2l: layers were unrolled for views=2"' in code, code
    assert any("inputs range(views) made for views=2" in w.message for w in result.warnings)


def test_a_constant_written_inside_a_tensor_expression_is_a_buffer() -> None:
    """``x + keras.ops.arange(n)``: torch would add a CPU tensor to the batch's device."""
    src = '''\
def offsets(n=4):
    inp = layers.Input(shape=(n,))
    x = inp * keras.ops.convert_to_tensor([1.0, 2.0, 3.0, 4.0]) + keras.ops.arange(n) * 0.5
    return keras.Model(inp, layers.Dense(2)(x * 2.0))
'''
    code, _ = converted(src, "offsets()")
    assert code.count("self.register_buffer(") == 2, code
    assert "torch.as_tensor(" not in code.split("def forward")[1], code


def test_a_dropout_keras_ran_on_a_constant_ran_in_inference_mode() -> None:
    """Keras calls a layer on a constant with ``training=None``: no units dropped, ever."""
    src = '''\
def dropped(n=6):
    inp = layers.Input(shape=(n, 3))
    table = layers.Dropout(0.9)(keras.ops.convert_to_tensor(np.ones((n, 3), "float32")))
    return keras.Model(inp, layers.Dense(2)(inp + table))
'''
    code, _ = converted(src, "dropped()")
    module = eval("dropped()", exec_source(code, "k2l_converted"))
    assert float(module.table.min()) == 1.0, code
