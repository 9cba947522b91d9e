"""Module constants behind ``if K.image_data_format() == ...`` (agent/rules/values.py).

Keras 2 scripts set ``input_shape`` in both branches of a data-format test; the converted
code keeps the channels-last branch (Keras's default), so the shapes there are known and a
builder's model gets concrete layer sizes and an example_input_array.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import libcst as cst
import pytest

from agent.rules.convert import convert_source
from agent.rules.values import module_constants

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "ns = runpy.run_path(sys.argv[1]); m = ns['KerasModel']().eval(); "
           "print('OUT', tuple(m(m.example_input_array).shape))")


@pytest.mark.parametrize("test,first,second", [
    ("K.image_data_format() == 'channels_first'", "(1, rows, cols)", "(rows, cols, 1)"),
    ('keras.backend.image_data_format() != "channels_last"', "(1, rows, cols)",
     "(rows, cols, 1)"),
    ("image_data_format() == 'channels_last'", "(rows, cols, 1)", "(1, rows, cols)"),
])
def test_the_channels_last_branch_is_read(test: str, first: str, second: str) -> None:
    src = f"rows, cols = 28, 20\nif {test}:\n    shape = {first}\nelse:\n    shape = {second}\n"
    assert module_constants(cst.parse_module(src))["shape"] == (28, 20, 1)


def test_other_branches_stay_unknown() -> None:
    src = textwrap.dedent("""\
        import os
        if os.environ.get("X") == "1":
            shape = (1, 2)
        if K.image_data_format() == 'channels_first':
            other = (1, 2)
        """)
    env = module_constants(cst.parse_module(src))
    assert "shape" not in env and "other" not in env  # no else branch: never bound


def test_builder_model_gets_shapes_from_the_branch(tmp_path: Path) -> None:
    src = textwrap.dedent("""\
        from keras import backend as K
        from keras.models import Sequential
        from keras.layers import Conv2D, Flatten, Dense

        img_rows, img_cols = 12, 10
        if K.image_data_format() == 'channels_first':
            input_shape = (1, img_rows, img_cols)
        else:
            input_shape = (img_rows, img_cols, 1)

        def make_model():
            model = Sequential()
            model.add(Conv2D(4, 3, input_shape=input_shape, padding='same'))
            model.add(Flatten())
            model.add(Dense(7, activation='softmax'))
            return model

        model = make_model()
        """)
    res = convert_source(src)
    assert "Lazy" not in res.source
    assert "self.example_input_array = torch.zeros(1, img_rows, img_cols, 1)" in res.source
    script = tmp_path / "model.py"
    script.write_text(res.source)
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "OUT (1, 7)" in run.stdout
