"""Module constants computed from literals by pure functions, and rebound in source order
(agent/rules/values.py, pure_calls.py, constant_bindings.py).

``CHARS = ast.literal_eval('[...]')`` then ``DIM = len(CHARS)``: a model sized by ``DIM``
gets real layer sizes, its constructor defaults and an example input. A name is known only
where its value is the one every later reader sees: not when a loop, branch, function or
in-place change can give it another, and never from data, files, the environment or
randomness. A constant that a definitions-only import of the converted script lacks (it is
rebound, or moved under the main guard) is written by value, so the class builds on import.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import subprocess
import sys
import textwrap
from pathlib import Path

import libcst as cst
import pytest

from agent.rules.convert import convert_source
from agent.rules.values import BY_VALUE, by_name, module_constants
from tests.test_build_layers import converted
from tests.without_tf import run_without_tf


def known(src: str) -> dict[str, object]:
    env = module_constants(cst.parse_module(textwrap.dedent(src)))
    return {k: v for k, v in env.items() if k in by_name(env) or k in env.get(BY_VALUE, ())}


@pytest.mark.parametrize("src,name,value", [
    ("import ast\nCHARS = '[\"C\", \"N\", \"Cl\"]'\nCHARS = ast.literal_eval(CHARS)\n"
     "DIM = len(CHARS)\n", "DIM", 3),
    ("from ast import literal_eval as parse\nSHAPE = parse('(4, 5)')\n", "SHAPE", (4, 5)),
    ("import json\nCFG = json.loads('{\"units\": [8, 4]}')\nLAST = CFG['units'][-1]\n",
     "LAST", 4),
    ("NAMES = 'a b c'.split()\nJOINED = '-'.join(NAMES)\n", "JOINED", "a-b-c"),
    ("WORDS = ['b', 'a', 'b']\nVOCAB = sorted(set(WORDS))\n", "VOCAB", ["a", "b"]),
    ("CHARS = ['x', 'y']\nINDEX = dict((c, i) for i, c in enumerate(CHARS))\n", "INDEX",
     {"x": 0, "y": 1}),
    ("SIZES = [3, 5]\nDOUBLE = [2 * s for s in SIZES if s > 3]\nTOP = max(SIZES) + sum(SIZES)\n",
     "TOP", 13),
    ("SIZES = [3, 5]\nDOUBLE = [2 * s for s in SIZES if s > 3]\n", "DOUBLE", [10]),
    ("N = 4\nN = N * 2\nN += 1\n", "N", 9),
    ("SHAPE = (2, 3, 4)\nTAIL = SHAPE[1:]\nFIRST = SHAPE[0]\n", "TAIL", (3, 4)),
    ("SPAN = list(range(2, 8, 3))\n", "SPAN", [2, 5]),
    # an object built from a constant and changed later is not the constant
    ("UNITS = [8, 4]\nmodel = Builder(UNITS)\nmodel.trainable = False\n", "UNITS", [8, 4]),
    # keys known, values from data that is changed later: the keys stay known
    ("import pandas as pd\ndata = pd.read_csv('x.csv')\nNUM = ['a']\n"
     "VOCAB = {f: sorted(data[f].unique()) for f in ['a', 'b', 'c'] if f not in NUM}\n"
     "NAMES = NUM + list(VOCAB.keys())\ndata['d'] = 0\n", "NAMES", ["a", "b", "c"]),
])
def test_pure_functions_of_known_values_fold(src: str, name: str, value: object) -> None:
    assert known(src).get(name) == value


@pytest.mark.parametrize("src,name", [
    # rebound where the evaluator does not follow
    ("N = 4\nfor i in range(3):\n    N = i\n", "N"),
    ("N = 4\nif flag:\n    N = 5\n", "N"),
    ("N = 4\ndef grow():\n    global N\n    N = 8\n", "N"),
    ("N = 4\nN = int(input())\n", "N"),
    ("import os\nN = 4\nN = len(os.listdir('.'))\n", "N"),
    # changed in place, directly or through an alias
    ("CHARS = ['a']\nCHARS.append('b')\nDIM = 1\n", "CHARS"),
    ("MAP = {'a': 0}\nMAP.update({'b': 1})\n", "MAP"),
    ("SIZES = [1, 2]\nSIZES[0] = 7\n", "SIZES"),
    ("import random\nORDER = [1, 2, 3]\nrandom.shuffle(ORDER)\n", "ORDER"),
    ("A = [1]\nB = A\nB.append(2)\n", "A"),
    ("A = [1]\nB = A\nA.append(2)\n", "B"),
    ("A = [1]\nA += [2]\n", "A"),
    ("A = [1]\ndef add():\n    A.append(2)\n", "A"),
    # a later fold never reads a value a loop or an in-place change replaced
    ("VOCAB = set()\nfor w in words:\n    VOCAB |= {w}\nSIZE = len(VOCAB) + 1\n", "SIZE"),
    ("A = [1]\nB = A\nB.append(2)\nN = len(A)\n", "N"),
    ("A = {}\ndef fill():\n    A['x'] = 1\nfill()\nN = len(A)\n", "N"),
    # read between two bindings by code the evaluator does not follow
    ("N = 4\nmodel = build(N)\nN = 8\n", "N"),
    ("N = 4\ndef size():\n    return N\nm = make(size())\nN = 8\n", "N"),
    # data, files, the environment, randomness, user functions, huge results
    ("import os\nN = int(os.environ['N'])\n", "N"),
    ("import numpy as np\nN = np.random.randint(3)\n", "N"),
    ("N = len(open('x.txt').read())\n", "N"),
    ("def len(x):\n    return 0\nN = len([1, 2])\n", "N"),
    ("R = list(range(10 ** 9))\n", "R"),
    ("S = 'x' * 10\nT = S.split(S)\nU = eval('1')\n", "U"),
])
def test_values_that_may_differ_or_come_from_outside_stay_unknown(src: str, name: str) -> None:
    assert name not in known(src)


def test_a_rebound_or_guarded_constant_is_written_by_value() -> None:
    """Rebound names, and those the main guard moves (they read one), print as values; a
    name bound once by a kept literal keeps printing as its name."""
    env = module_constants(cst.parse_module(
        "import ast\nN = 6\nC = '[1, 2]'\nC = ast.literal_eval(C)\nD = len(C)\n"))
    assert {"C", "D"} <= env[BY_VALUE] and "N" in by_name(env)


HEAD = "import keras\nimport numpy as np\nfrom keras import layers\n\n"

VOCAB = '''\
import ast

VOCAB = '["a", "b", "c", "d"]'
VOCAB = ast.literal_eval(VOCAB)
STEPS = 6
VOCAB_SIZE = len(VOCAB)


def build_head(latent, out_shape):
    z = keras.Input(shape=(latent,))
    x = layers.Dense(16, activation="relu")(z)
    x = layers.Dense(out_shape[0] * out_shape[1])(x)
    x = layers.Reshape(out_shape)(x)
    return keras.Model(z, layers.Softmax(axis=2)(x))


def build_encoder(seq_shape):
    inputs = keras.Input(shape=seq_shape)
    x = layers.Flatten()(inputs)
    return keras.Model(inputs, layers.Dense(4)(x))


head = build_head(8, (STEPS, VOCAB_SIZE))
encoder = build_encoder((STEPS, VOCAB_SIZE))
'''

TRAIN = '''
x = np.eye(VOCAB_SIZE, dtype="float32")[np.random.randint(0, VOCAB_SIZE, (32, STEPS))]
encoder.compile(optimizer="adam", loss="mse")
encoder.fit(x, np.random.rand(32, 4).astype("float32"), epochs=1, batch_size=8)
'''

# a definitions-only import (nothing under the main guard runs), every class built with its
# defaults and run on its example input: what a user importing the converted module gets
IMPORT_AND_BUILD = textwrap.dedent("""\
    import runpy, sys, torch
    sys.modules["keras"] = None; sys.modules["tensorflow"] = None
    import pytorch_lightning as pl
    ns = runpy.run_path(sys.argv[1], run_name="converted")
    for name, cls in sorted(ns.items()):
        if isinstance(cls, type) and issubclass(cls, pl.LightningModule) \\
                and cls is not pl.LightningModule:
            m = cls().eval()
            x = m.example_input_array
            out = m(*x) if isinstance(x, tuple) else m(x)
            print(name, tuple(out.shape))
""")


@pytest.mark.slow
def test_models_sized_by_a_parsed_constant_build_on_import(tmp_path: Path) -> None:
    code, _ = converted(VOCAB, "build_head(8, (6, 4))")
    assert "out_shape: tuple[int, ...] = (6, 4)" in code, code
    code, _ = converted(VOCAB, "build_encoder((6, 4))")
    assert "self.example_input_array = torch.zeros(1, 6, 4)" in code, code
    script = convert_source(HEAD + VOCAB + TRAIN, "script.py", main_guard=True)
    assert not script.unmapped, [(u.keras_name, u.reason) for u in script.unmapped]
    assert "VOCAB = ast.literal_eval(VOCAB)" in script.source.split("__main__")[1]
    path = tmp_path / "converted.py"
    path.write_text(script.source)
    run = subprocess.run([sys.executable, "-c", IMPORT_AND_BUILD, str(path)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "(1, 6, 4)" in run.stdout and "(1, 4)" in run.stdout, run.stdout
    trained = run_without_tf(script.source, tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
