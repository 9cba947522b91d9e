"""Data code through the op table statement by statement (issue 9 point 5, issue 10 "data
without TensorFlow"): module-level statements and plain functions, NumPy arguments made
tensors with TF's dtypes, and TF and torch values never meeting."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.convert import Conversion, convert_source
from agent.rules.ops.flow import PLAIN, TF, TORCH, Unit, settle

HEADER = "import numpy as np\nimport tensorflow as tf\n\n"


def convert(body: str) -> Conversion:
    return convert_source(HEADER + textwrap.dedent(body))


def run(code: str) -> dict[str, Any]:
    """Execute converted code: it must not need TensorFlow."""
    assert "tensorflow" not in code and "tf." not in code
    ns: dict[str, Any] = {}
    exec(compile(code, "<converted>", "exec"), ns)  # noqa: S102 - our own generated code
    return ns


def line_of(source: str, text: str) -> int:
    return next(k + 1 for k, line in enumerate(source.splitlines()) if text in line)


# ---------------------------------------------------------------------------- module level
def test_each_module_statement_converts_on_its_own() -> None:
    src = """
    labels = np.array([0, 2, 1])
    onehot = tf.one_hot(labels, 3)
    name = tf.strings.upper("abc")
    scaled = tf.cast(labels, tf.float32) / 2.0
    """
    out = convert(src)
    assert "onehot = F.one_hot(torch.as_tensor(labels).long(), 3).to(torch.float32)" \
        in out.source
    assert "scaled = torch.as_tensor(labels, dtype=torch.float32) / 2.0" in out.source
    assert 'name = tf.strings.upper("abc")' in out.source  # no mapping: exactly as written
    body = HEADER + textwrap.dedent(src)
    [record] = out.unmapped
    assert record.line == line_of(body, "tf.strings.upper")
    assert record.keras_name == "tensorflow.strings.upper"
    assert [c.line for c in out.changes if c.rule == "ops.statements"] == [
        line_of(body, "tf.one_hot"), line_of(body, "tf.cast")]


def test_module_statements_in_if_and_for_bodies() -> None:
    out = convert("""
    data = np.ones((2, 3))
    if data.shape[0] > 1:
        total = tf.reduce_sum(data)
    for k in range(2):
        data = tf.expand_dims(data, 0)
    """)
    assert "    total = torch.sum(torch.as_tensor(data))" in out.source
    assert "    data = torch.unsqueeze(torch.as_tensor(data), dim=0)" in out.source
    ns = run(out.source)
    assert tuple(ns["data"].shape) == (1, 1, 2, 3)
    assert float(ns["total"]) == 6.0


def test_value_feeding_unconverted_code_stays_tf() -> None:
    """tf.io.serialize_tensor keeps TF: the tensor it reads must stay a TF tensor."""
    src = """
    ids = tf.range(4)
    blob = tf.io.serialize_tensor(ids)
    other = tf.range(3)
    """
    out = convert(src)
    body = HEADER + textwrap.dedent(src)
    assert "ids = tf.range(4)" in out.source
    assert "other = torch.arange(3, dtype=torch.int32)" in out.source
    reasons = {u.line: u.reason for u in out.unmapped}
    assert reasons[line_of(body, "ids =")] == (
        f"kept as written: feeds TF code at line {line_of(body, 'blob =')}")


def test_tf_value_through_a_plain_statement_blocks_conversion() -> None:
    src = """
    n = tf.strings.length("abcd")
    m = n + 1
    x = tf.cast(m, tf.float32)
    """
    out = convert(src)
    assert "x = tf.cast(m, tf.float32)" in out.source
    reasons = {u.line: u.reason for u in out.unmapped}
    assert reasons[line_of(HEADER + textwrap.dedent(src), "x = tf.cast")] == (
        "kept as written: reads m, which TF code computes")


def test_names_local_to_a_class_do_not_meet_module_names() -> None:
    """A method's parameter ``action`` is not the module's ``action``."""
    out = convert("""
    class Buffer:
        def add(self, action):
            return np.ones(2) - action


    action = tf.ones((2,))
    print(Buffer().add(1.0), action)
    """)
    assert "action = torch.ones((2,))" in out.source


# ---------------------------------------------------------------------------- functions
def test_only_the_statements_that_would_mix_stay_as_written() -> None:
    """Statement granularity: the statements where TF and torch values would meet stay as
    written, each with its reason; the function's other statements stay converted."""
    src = """
    def encode(text, n):
        noise = tf.random.uniform((n,))
        print(float(tf.reduce_sum(noise)))
        ids = tf.strings.unicode_decode(text, "UTF-8")
        return tf.cast(ids, tf.float32)


    def prepare(x):
        y = tf.cast(x, tf.float32)
        scale = tf.reduce_max(tf.abs(np.ones(3)))
        print(scale)
        return tf.io.serialize_tensor(y)


    print(encode("ab", 2), prepare(np.ones(2)))
    """
    out = convert(src)
    body = HEADER + textwrap.dedent(src)
    assert out.source.count("tf.cast(") == 2  # both mixing statements exactly as written
    assert "noise = torch.rand((n,))" in out.source
    assert "scale = torch.amax(torch.abs(torch.as_tensor(np.ones(3))))" in out.source
    reasons = {u.line: u.reason for u in out.unmapped}
    assert reasons[line_of(body, "return tf.cast(ids")] == (
        "kept as written: reads encode::ids, which TF code computes")
    assert reasons[line_of(body, "y = tf.cast(x")] == (
        f"kept as written: feeds TF code at line {line_of(body, 'serialize_tensor(y)')}")
    assert line_of(body, "noise =") not in reasons and line_of(body, "scale =") not in reasons


def test_function_with_independent_statements_converts_per_statement() -> None:
    out = convert("""
    def describe(values, word):
        count = tf.size(values)
        shout = tf.strings.upper(word)
        return count, shout


    print(describe(np.ones((2, 2)), "a"))
    """)
    assert "    count = torch.as_tensor(values).numel()" in out.source
    assert "    shout = tf.strings.upper(word)" in out.source


def test_argument_from_tf_code_keeps_callee_statements() -> None:
    """A parameter fed by TF code is a TF value inside the function."""
    out = convert("""
    def scale(t):
        return tf.cast(t, tf.float32) * 2.0


    token = tf.strings.to_number("3")
    print(scale(token))
    """)
    assert "return tf.cast(t, tf.float32) * 2.0" in out.source


def test_data_function_gets_tensors_and_runs_like_keras() -> None:
    import keras

    out = convert("""
    def normalize(batch):
        mean = tf.reduce_mean(batch, axis=0)
        std = tf.math.reduce_std(batch, axis=0)
        return tf.subtract(batch, mean) / std


    data = np.arange(12.0).reshape(4, 3) ** 2
    result = normalize(data)
    """)
    assert "torch.mean(torch.as_tensor(batch), dim=0)" in out.source
    assert "(torch.as_tensor(batch) - mean) / std" in out.source
    ns = run(out.source)
    data = np.arange(12.0).reshape(4, 3) ** 2
    want = (data - keras.ops.mean(data, axis=0).numpy()) / keras.ops.std(data, axis=0).numpy()
    assert ns["result"].dtype == torch.float64  # a float64 array stays float64, as in TF
    np.testing.assert_allclose(ns["result"].numpy(), want, rtol=1e-12)


def test_numpy_array_left_of_a_converted_value_keeps_the_statement() -> None:
    """``ndarray - tensor`` raises in torch (TF converts the array): kept as written."""
    src = """
    def center(batch):
        mean = tf.reduce_mean(batch, axis=0)
        return batch - mean


    result = center(np.ones((2, 2)))
    """
    out = convert(src)
    assert "mean = tf.reduce_mean(batch, axis=0)" in out.source
    reasons = {u.line: u.reason for u in out.unmapped}
    body = HEADER + textwrap.dedent(src)
    assert reasons[line_of(body, "mean =")] == (
        "kept as written: is the right operand "
        f"of a NumPy array at line {line_of(body, 'return batch - mean')}")


def test_numpy_of_a_converted_value_is_an_array_for_the_callee() -> None:
    """``t.numpy()`` gives an ndarray from a TF or a torch tensor: a helper that computes
    with NumPy on it (an array on the left of ``&``, ``-``) does not keep the caller whole."""
    src = """
    def count_large(rows):
        first, second = rows
        return int(np.sum((first > 0.5) & (np.abs(second) > 0.5)))


    def draw(n):
        values = tf.random.uniform((n, 3))
        flipped = tf.reverse(values, axis=[1])
        return [count_large([values[i].numpy(), flipped[i].numpy()]) for i in range(n)]


    counts = draw(4)
    """
    out = convert(src)
    assert "torch.flip(values, dims=(1,))" in out.source
    assert not [u for u in out.unmapped if "kept whole" in u.reason]
    ns = run(out.source)
    assert len(ns["counts"]) == 4 and all(0 <= c <= 3 for c in ns["counts"])


def test_lambda_target_is_not_wrapped() -> None:
    out = convert_source(textwrap.dedent("""
        import tensorflow as tf
        from tensorflow import keras


        def halve(x):
            return tf.math.sqrt(x) / 2.0


        model = keras.Sequential([keras.layers.Lambda(halve), keras.layers.Dense(2)])
    """))
    assert "return torch.sqrt(x) / 2.0" in out.source


# ---------------------------------------------------------------------------- numbers
# One statement per op family, run on NumPy input, against Keras 3 (torch backend).
# (statement, Keras 3 reference, the dtype TF gives for a float64 NumPy ``x``: TF keeps an
# array's dtype and makes Python floats float32 and ints int32; argmax is int64 by default).
FAMILIES = [
    ("out = tf.cast(x, tf.int32)", lambda o, x: o.cast(x, "int32"), "int32"),
    ("out = tf.one_hot(labels, 4)", lambda o, x: o.one_hot(np.array([0, 3, 1]), 4), "float32"),
    ("out = tf.expand_dims(x, -1)", lambda o, x: o.expand_dims(x, -1), "float64"),
    ("out = tf.reshape(x, [3, -1])", lambda o, x: o.reshape(x, (3, -1)), "float64"),
    ("out = tf.reduce_mean(x, axis=1)", lambda o, x: o.mean(x, axis=1), "float64"),
    ("out = tf.reduce_sum(x)", lambda o, x: o.sum(x), "float64"),
    ("out = tf.argmax(x, axis=-1)", lambda o, x: o.argmax(x, axis=-1), "int64"),
    ("out = tf.concat([x, x], axis=0)", lambda o, x: o.concatenate([x, x], axis=0), "float64"),
    ("out = tf.stack([x, x])", lambda o, x: o.stack([x, x]), "float64"),
    ("out = tf.pad(x, [[1, 0], [0, 2]])", lambda o, x: o.pad(x, ((1, 0), (0, 2))), "float64"),
    ("out = tf.math.log(x + 1.0)", lambda o, x: o.log(x + 1.0), "float64"),
    ("out = tf.maximum(x, 2.0)", lambda o, x: o.maximum(x, 2.0), "float64"),
    ("out = tf.square(x)", lambda o, x: o.square(x), "float64"),
    ("out = tf.transpose(x)", lambda o, x: o.transpose(x), "float64"),
    ("out = tf.where(x > 2.0, x, 0.0)", lambda o, x: o.where(x > 2.0, x, 0.0), "float64"),
    ("out = tf.clip_by_value(x, 1.0, 3.0)", lambda o, x: o.clip(x, 1.0, 3.0), "float64"),
    ("out = tf.convert_to_tensor(x)", lambda o, x: o.convert_to_tensor(x), "float64"),
    ("out = tf.convert_to_tensor([1.5, 2.0])",
     lambda o, x: o.convert_to_tensor([1.5, 2.0]), "float32"),
    ("out = tf.constant([[1, 2]])", lambda o, x: o.convert_to_tensor([[1, 2]]), "int32"),
    ("out = tf.ones((2, 3))", lambda o, x: o.ones((2, 3)), "float32"),
    ("out = tf.range(5)", lambda o, x: o.arange(5), "int32"),
    ("out = tf.range(1.0, 2.0, 0.5)", lambda o, x: o.arange(1.0, 2.0, 0.5), "float32"),
    ("out = tf.shape(x)[1]", lambda o, x: o.shape(x)[1], None),  # an int
]


@pytest.mark.parametrize(("code", "reference", "dtype"), FAMILIES,
                         ids=[c for c, _, _ in FAMILIES])
def test_family_on_numpy_input_matches_keras(code: str, reference: Any, dtype: str | None
                                             ) -> None:
    import keras

    out = convert(f"x = np.arange(6.0).reshape(2, 3)\nlabels = np.array([0, 3, 1])\n{code}\n")
    ns = run(out.source)
    x = np.arange(6.0).reshape(2, 3)
    got = ns["out"]
    if dtype is None:
        assert isinstance(got, int)
    else:
        assert got.dtype == getattr(torch, dtype)
        got = got.numpy()
    np.testing.assert_allclose(np.asarray(got), keras.ops.convert_to_numpy(reference(keras.ops, x)))


def test_python_ints_become_int32_like_tf() -> None:
    """TF (and Keras): Python ints are int32; torch would make them int64."""
    ns = run(convert("a = tf.constant(7)\nb = tf.convert_to_tensor([1, 2])\n").source)
    assert ns["a"].dtype == torch.int32 and ns["b"].dtype == torch.int32


def test_random_draw_shape_and_dtype() -> None:
    ns = run(convert("z = tf.random.normal((4, 2))\nu = tf.random.uniform([3])\n").source)
    assert tuple(ns["z"].shape) == (4, 2) and ns["z"].dtype == torch.float32
    assert tuple(ns["u"].shape) == (3,) and bool(((ns["u"] >= 0) & (ns["u"] < 1)).all())


def test_gamma_draws_follow_tf() -> None:
    """TF's documented shape (samples per alpha) and Gamma(alpha, rate beta)'s mean."""
    ns = run(convert("torch_seed = 0\ns = tf.random.gamma([10], [0.5, 1.5])\n"
                     "big = tf.random.gamma([40000], 2.0, beta=4.0)\n").source)
    assert tuple(ns["s"].shape) == (10, 2) and ns["s"].dtype == torch.float32
    assert abs(float(ns["big"].mean()) - 2.0 / 4.0) < 0.01


# ---------------------------------------------------------------------------- flow alone
def test_settle_reverts_both_directions_statement_by_statement() -> None:
    units = [
        Unit(0, set(), {"a"}, TF, line=1),
        Unit(1, {"a"}, {"b"}, PLAIN),
        Unit(2, {"b"}, {"c"}, TORCH, line=3),  # reads a TF value through b
        Unit(3, set(), {"d"}, TORCH, line=4),
        Unit(4, {"d"}, set(), TF, line=5),  # reads a torch value
        Unit(5, set(), {"f::e"}, TORCH, group="f", line=6),
        Unit(6, set(), {"f::g"}, TORCH, group="f", line=7),
        Unit(7, {"f::g"}, set(), TF, group="f", line=8),
        Unit(8, set(), {"h"}, TORCH, line=9),  # independent: stays torch
    ]
    settle(units)
    assert [u.status for u in units] == [TF, PLAIN, TF, TF, TF, TORCH, TF, TF, TORCH]
    assert units[2].reason == "reads b, which TF code computes"
    assert units[3].reason == "feeds TF code at line 5"
    assert units[5].reason == ""  # f's independent statement stays converted
    assert units[6].reason == "feeds TF code at line 8"


def test_a_row_that_calls_a_runtime_function_at_module_level_brings_it_along(
        tmp_path: Path) -> None:
    """The statement pass runs after the utilities copied their runtime: a row it applies
    (``tf.io.read_file`` -> ``image_read_file``) must still find its function in the script."""
    from agent.equivalence import exec_source
    from agent.rules.convert import convert_source

    path = tmp_path / "blob.bin"
    path.write_bytes(b"k2l")
    result = convert_source(f"import tensorflow as tf\n\ndata = tf.io.read_file({str(path)!r})\n")
    code = result.source
    assert "tensorflow" not in code and code.count("def image_read_file(") == 1, code
    assert exec_source(code, "k2l_read")["data"] == b"k2l"


# ---------------------------------------------------------------------------- classes
def test_callback_methods_convert_per_statement() -> None:
    """A Keras callback becomes a ``pl.Callback`` that no other rule reads: its methods'
    statements convert as a function's do, so the class is no TF code the script's data
    values would flow into."""
    src = """
    from tensorflow import keras

    characters = list("abc ")
    to_text = keras.layers.StringLookup(vocabulary=characters, oov_token="", invert=True)


    class ShowText(keras.callbacks.Callback):
        def __init__(self, rows):
            super().__init__()
            self.rows = rows

        def on_epoch_end(self, epoch, logs=None):
            for ids in self.rows:
                print(epoch, tf.strings.reduce_join(to_text(ids)).numpy().decode("utf-8"))


    rows = np.array([[1, 2, 4], [3, 3, 1]])
    first = tf.strings.reduce_join(to_text(rows[0])).numpy().decode("utf-8")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(rows.astype("float32"), np.ones(2), epochs=1, callbacks=[ShowText(rows)])
    """
    out = convert(src)
    assert "class ShowText(pl.Callback):" in out.source
    assert "print(epoch, strings_reduce_join(to_text(ids)))" in out.source
    assert "first = strings_reduce_join(to_text(rows[0]))" in out.source
    assert not [u for u in out.unmapped if "kept as written" in u.reason]


def test_a_tf_value_kept_on_self_keeps_the_methods_reading_it() -> None:
    """``self`` is one name for the whole class: what one method stores there, another
    reads, whichever attribute."""
    src = """
    class Holder:
        def __init__(self, text):
            self.n = tf.strings.length(text)

        def double(self):
            return tf.cast(self.n, tf.float32) * 2.0


    print(Holder("abc").double())
    """
    out = convert(src)
    assert "return tf.cast(self.n, tf.float32) * 2.0" in out.source
    reasons = {u.line: u.reason for u in out.unmapped}
    assert reasons[line_of(HEADER + textwrap.dedent(src), "return tf.cast")] == (
        "kept as written: reads Holder::self, which TF code computes")


def test_arguments_of_a_method_call_reach_its_parameters() -> None:
    src = """
    class Scaler:
        def scale(self, t):
            return tf.cast(t, tf.float32) * 2.0


    token = tf.strings.to_number("3")
    print(Scaler().scale(token))
    """
    out = convert(src)
    assert "return tf.cast(t, tf.float32) * 2.0" in out.source


def test_comprehension_variables_link_no_statements() -> None:
    """``[... for _ in ...]`` binds its own ``_``: the ``_`` a converted unpacking writes
    does not reach the TF statement (Python 3 comprehensions have their own scope)."""
    out = convert("""
    values, _ = tf.math.top_k(tf.constant([3.0, 1.0, 2.0]), 2)
    blob = tf.io.serialize_tensor(tf.stack([tf.zeros(2) for _ in range(3)]))
    print(values, blob)
    """)
    assert "values, _ = torch.topk(" in out.source
    assert "blob = tf.io.serialize_tensor(" in out.source


def test_a_statement_written_twice_is_reported_at_its_own_line() -> None:
    """The same text in a function and later at module level: each record has its line."""
    src = """
    def total(x):
        blob = tf.io.serialize_tensor(x)
        return blob


    x = np.ones(2)
    blob = tf.io.serialize_tensor(x)
    y = tf.ones(2)
    """
    out = convert(src)
    body = HEADER + textwrap.dedent(src)
    lines = [u.line for u in out.unmapped if u.keras_name == "tensorflow.io.serialize_tensor"]
    first = line_of(body, "blob = tf.io")
    assert sorted(lines) == [first, first + 5]


def test_a_plain_class_holding_the_converted_model_runs_on_torch() -> None:
    """An agent class calling the model: its methods' TF ops convert with the model."""
    out = convert("""
    from tensorflow import keras


    class Agent:
        def __init__(self, model):
            self.model = model

        def act(self, obs):
            state = tf.convert_to_tensor(obs[None], dtype=tf.float32)
            probs = self.model(state)
            return int(tf.argmax(probs[0]))

        def noise(self, n):
            return tf.random.normal((n,))


    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))
    agent = Agent(model)
    action = agent.act(np.ones(4))
    noise = agent.noise(3)
    """)
    assert "state = torch.as_tensor(obs[None], dtype=torch.float32)" in out.source
    ns = run(out.source.replace("import tensorflow as tf\n", ""))
    assert ns["action"] in (0, 1)
    assert ns["noise"].shape == (3,) and ns["noise"].dtype == torch.float32
