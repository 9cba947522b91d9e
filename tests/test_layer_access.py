"""Keras weight access on converted models (training/layer_access.py): ``get_layer(n)``,
``layers[k]``, a layer variable and the model itself, read and written in Keras's layout;
a student model grown from a teacher's weights by NumPy surgery gives Keras's numbers,
run without TensorFlow."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from agent.rules.convert import convert_source
from tests.without_tf import run_without_tf

SCRIPT = textwrap.dedent("""
    import numpy as np
    import keras
    from keras import layers

    SHAPE = (10, 10, 1)


    def build_teacher():
        model = keras.Sequential()
        model.add(layers.Conv2D(3, 3, input_shape=SHAPE, padding="same", name="stem"))
        model.add(layers.MaxPooling2D(2, name="pool"))
        model.add(layers.Flatten(name="flat"))
        model.add(layers.Dense(6, activation="relu", name="hidden"))
        model.add(layers.Dense(2, activation="softmax", name="head"))
        return model


    def build_student(teacher, extra):
        model = keras.Sequential()
        model.add(layers.Conv2D(3 + extra, 3, input_shape=SHAPE, padding="same", name="stem"))
        model.add(layers.MaxPooling2D(2, name="pool"))
        model.add(layers.Flatten(name="flat"))
        model.add(layers.Dense(6, activation="relu", name="hidden"))
        model.add(layers.Dense(2, activation="softmax", name="head"))
        kernel, bias = teacher.get_layer("stem").get_weights()
        picked = np.arange(extra) % kernel.shape[-1]
        wide = np.concatenate([kernel, kernel[..., picked]], axis=-1)
        model.get_layer("stem").set_weights([wide, np.concatenate([bias, bias[picked]])])
        hidden = teacher.layers[3].get_weights()  # 0 stem, 1 pool, 2 flat, 3 hidden
        w = np.zeros((5 * 5 * (3 + extra), 6), dtype="float32")
        w.reshape(5, 5, 3 + extra, 6)[:, :, :3] = hidden[0].reshape(5, 5, 3, 6)
        model.layers[-2].set_weights([w, hidden[1]])
        for name in ["head"]:
            model.get_layer(name=name).set_weights(teacher.get_layer(name=name).get_weights())
        flat = model.get_layer("flat")
        print("FLAT", len(flat.get_weights()))
        return model


    def experiment():
        student = build_student(teacher, 2)
        print("SHAPES", [w.shape for w in student.get_weights()])
        x = np.linspace(0.0, 1.0, 2 * 10 * 10).reshape(2, 10, 10, 1).astype("float32")
        print("OUT", np.asarray(student.predict(x, verbose=0)).round(5).tolist())


    teacher = build_teacher()
    teacher.set_weights([np.cos(np.arange(w.size)).reshape(w.shape).astype("float32")
                         for w in teacher.get_weights()])
    experiment()
""")


def _line(out: str, key: str) -> object:
    found = re.search(rf"^{key} (.*)$", out, re.M)
    assert found, out[-2000:]
    return ast.literal_eval(found.group(1))


def test_weight_calls_become_runtime_calls() -> None:
    res = convert_source(SCRIPT)
    assert res.error == "" and "TODO(k2l)" not in res.source, res.source
    code = res.source.split("SHAPE = (10, 10, 1)")[1]  # the script's own code
    assert "get_layer" not in code and ".get_weights()" not in code, code
    assert "kernel, bias = layer_weights(teacher.stem)" in code
    assert "set_layer_weights(model.stem, [wide, np.concatenate([bias, bias[picked]])])" in code
    assert "hidden = layer_weights(teacher.hidden)" in code  # layers[3] in Keras's list
    assert "set_layer_weights(model.hidden, [w, hidden[1]])" in code
    assert ("set_layer_weights(layer_named(model, name), "
            "layer_weights(layer_named(teacher, name)))") in code
    assert "flat = None" in code  # Flatten became part of forward: no weights, as in Keras
    assert "set_layer_weights(teacher, [" in code and "for w in layer_weights(teacher)]" in code
    assert not re.search(r"^\s*(import|from) (keras|tensorflow)", res.source, re.M)


def test_grown_student_gives_keras_numbers_without_tensorflow(tmp_path: Path) -> None:
    pytest.importorskip("keras")
    original = tmp_path / "original.py"
    original.write_text(SCRIPT, encoding="utf-8")
    keras_run = subprocess.run([sys.executable, str(original)], capture_output=True, text=True,
                               timeout=300, check=False, cwd=tmp_path,
                               env={**os.environ, "KERAS_BACKEND": "torch"})
    assert keras_run.returncode == 0, keras_run.stderr[-3000:]
    res = convert_source(SCRIPT, main_guard=True)
    run = run_without_tf(res.source, tmp_path, fast_dev_run=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _line(run.stdout, "FLAT") == _line(keras_run.stdout, "FLAT") == 0
    assert _line(run.stdout, "SHAPES") == _line(keras_run.stdout, "SHAPES")
    np.testing.assert_allclose(np.asarray(_line(run.stdout, "OUT")),
                               np.asarray(_line(keras_run.stdout, "OUT")), atol=2e-5)


def test_unknown_layer_name_stays_visible() -> None:
    """A name no layer of the converted model has: kept as written, a TODO and a report
    line (Keras itself would raise); an index into a generated ``nn.Sequential`` is its
    position there."""
    res = convert_source(textwrap.dedent("""
        import keras
        from keras import layers

        model = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="d")])
        model.compile(loss="mse", optimizer="adam")
        w = model.get_layer("nope").get_weights()
        first = model.layers[0].get_weights()
    """))
    assert "# TODO(k2l): model.get_layer('nope'): the converted model has no layer" in res.source
    assert any("get_layer('nope')" in u.reason for u in res.unmapped)
    assert "first = layer_weights(model.layers[0])" in res.source
    assert "self.layers = nn.Sequential(" in res.source


def test_weight_attributes_read_as_keras_values() -> None:
    """``layer.kernel.numpy()``: the value in Keras's layout, by the weight's Keras name."""
    res = convert_source(textwrap.dedent("""
        import keras
        from keras import layers

        model = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="d"),
                                  layers.Dense(2, name="e")])
        kernel = model.get_layer("d").kernel.numpy()
        last = model.layers[-1]
        print(kernel.shape, last.bias.numpy().shape)
    """))
    assert 'kernel = layer_weight(model.layers[0], "kernel")' in res.source
    assert "last = model.layers[1]" in res.source
    assert 'layer_weight(last, "bias").shape' in res.source
