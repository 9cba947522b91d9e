"""``keras.callbacks.History`` written out by the script: an instance passed in
``callbacks=[...]`` and read after ``fit``, and the class as a type annotation."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.rules.convert import convert_source

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")

SCRIPT = """\
import numpy as np
from tensorflow import keras

rng = np.random.default_rng(0)
x = rng.normal(size=(48, 5)).astype("float32")
y = rng.normal(size=(48, 1)).astype("float32")


def last(history: keras.callbacks.History, key: str) -> float:
    return history.history[key][-1]


model = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse", metrics=["mae"])
recorder = keras.callbacks.History()
model.fit(x, y, batch_size=16, epochs=1, validation_split=0.25, callbacks=[recorder],
          verbose=0)
print("KEYS", sorted(recorder.history), len(recorder.history["loss"]))
print("LAST", last(recorder, "val_mae") > 0)
"""


def test_history_object_records_keras_keys_without_keras(tmp_path: Path) -> None:
    res = convert_source(SCRIPT)
    assert res.keras_deps == [] and "TODO(k2l)" not in res.source, res.source
    assert "recorder = KerasHistory()" in res.source
    assert "def last(history: KerasHistory, key: str)" in res.source
    script = tmp_path / "train.py"
    script.write_text(res.source)
    env = {**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"}
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=180, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(SCRIPT.replace("from tensorflow import keras", "import keras"),
                     "<keras>", "exec"), {})
    expected = printed.getvalue().splitlines()
    assert expected == ["KEYS ['loss', 'mae', 'val_loss', 'val_mae'] 1", "LAST True"]
    assert run.stdout.splitlines()[-2:] == expected, run.stdout
