"""``from six.moves import ...`` in converted scripts (agent/rules/six_moves.py): Keras 2
installed ``six``; the converted script must run where only torch is installed, and each
rewritten name must be the very object ``six.moves`` gave on Python 3."""

from __future__ import annotations

import builtins
import functools
import io
import itertools
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.rules.convert import convert_source
from agent.rules.six_moves import MOVES, without_six_moves

_MODEL = """
import numpy as np
from keras.models import Sequential
from keras.layers import Dense

model = Sequential([Dense(2, input_shape=(3,))])
model.compile(loss='mse', optimizer='sgd')
"""


@pytest.mark.parametrize(("line", "expected"), [
    ("from six.moves import range", ""),
    ("from six.moves import range, zip, map", ""),
    ("from six.moves import xrange", "xrange = range"),
    ("from six.moves import cPickle", "import pickle as cPickle"),
    ("from six.moves import cPickle as pickle", "import pickle"),
    ("from six.moves import reduce", "from functools import reduce"),
    ("from six.moves import zip_longest as zl", "from itertools import zip_longest as zl"),
    ("from six.moves import range, reduce", "from functools import reduce"),
])
def test_a_six_moves_import_becomes_its_python3_name(line: str, expected: str) -> None:
    moved = without_six_moves(line + "\nx = 1\n")
    assert moved.code == (expected + "\n" if expected else "") + "x = 1\n"
    assert [ln for ln, _ in moved.lines] == [1]


@pytest.mark.parametrize("line", [
    "import six",
    "from six.moves import urllib_parse",  # not in the table: left for a person
    "from six.moves import range, urllib_parse",  # one unknown name keeps the whole line
    "from six.moves import *",
    "from six import iteritems",
])
def test_anything_else_is_left_as_written(line: str) -> None:
    moved = without_six_moves(line + "\n")
    assert moved.code == line + "\n" and not moved.lines


def test_the_table_names_the_objects_six_moves_gives_on_python3() -> None:
    """six.moves.X on Python 3 is exactly these objects (six's own table); checked against
    the standard library so that the table cannot name a different function."""
    modules = {"functools": functools, "itertools": itertools, "io": io}
    for name, (module, target) in MOVES.items():
        if module is not None:
            assert getattr(modules[module], target).__name__ == target, name
        elif target in {"pickle", "urllib", "queue", "configparser"}:
            assert __import__(target).__name__ == target
        else:
            assert callable(getattr(builtins, target)), name
    assert pickle.loads(pickle.dumps([1])) == [1]


def test_a_converted_keras2_script_runs_without_six(tmp_path: Path) -> None:
    src = "from six.moves import range, cPickle\n" + textwrap.dedent(_MODEL) + (
        "total = sum(i for i in range(4))\n"
        "print(total, len(cPickle.dumps(total)) > 0)\n")
    res = convert_source(src, "script.py")
    assert "six" not in res.source and res.error == "", res.source
    assert [c.rule for c in res.changes].count("imports.six_moves") == 1
    path = tmp_path / "script.py"
    path.write_text(res.source, encoding="utf-8")
    blocker = tmp_path / "blocked"  # six, keras and tensorflow made unimportable
    blocker.mkdir()
    for name in ("six", "keras", "tensorflow"):
        (blocker / f"{name}.py").write_text("raise ImportError('blocked')\n")
    run = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(blocker), "PATH": "/usr/bin"},
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[-2:] == ["6", "True"]


def test_an_unconverted_file_keeps_its_six_imports() -> None:
    src = "from six.moves import range\nprint(list(range(3)))\n"
    assert convert_source(src, "plain.py").source == src
