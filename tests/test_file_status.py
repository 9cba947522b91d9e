"""A file's status in the report: "converted" only when nothing of Keras/TF is left."""

from __future__ import annotations

from pathlib import Path

from agent.discover import Entry
from agent.pipeline import _file_result
from agent.records import Change, KerasDependency
from agent.rules.convert import Conversion


def _entry() -> Entry:
    return Entry(Path("/src/a.py"), "a.py", "python")


def test_keras_left_without_an_unmapped_record_is_partial() -> None:
    """A statement kept silently (no rule reported it) still leaves the script needing Keras:
    never "converted"."""
    conv = Conversion("import keras\nx = keras.Input(shape=(3,))\n",
                      changes=[Change(1, "model.Functional", "model -> class")],
                      keras_deps=[KerasDependency(2, "keras.Input", "no rule converts it")])
    result = _file_result(_entry(), conv, "import keras\n")
    assert result.status == "partial"
    assert "line 2: keras.Input" in result.reason


def test_nothing_left_is_converted() -> None:
    conv = Conversion("import torch\n", changes=[Change(1, "imports", "keras -> torch")])
    assert _file_result(_entry(), conv, "import keras\n").status == "converted"
