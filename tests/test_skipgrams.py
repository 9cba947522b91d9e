"""``keras.preprocessing.sequence.skipgrams`` / ``make_sampling_table`` → runtime/keras_data.py.

Keras 3 has neither, so the reference is tf_keras (Keras 2) under real TensorFlow, in its own
process (``make tf-venv``); without it that test skips. The converted script runs here
without TensorFlow and must print what tf_keras prints for the same seeded script.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from agent.rules.convert import convert_source
from agent.rules.training.runtime.keras_data import make_sampling_table, skipgrams
from agent.tools.tf_original import tf_python

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")

SCRIPT = textwrap.dedent("""\
    import random
    from collections import defaultdict

    import numpy as np
    from tensorflow import keras

    random.seed(7)
    walks = [[1, 2, 3, 4, 2, 5], [3, 0, 1, 5, 6, 2, 4]]
    table = keras.preprocessing.sequence.make_sampling_table(8, sampling_factor=0.5)


    def count_pairs(sequences, window_size, vocabulary_size):
        weights = defaultdict(int)
        for sequence in sequences:
            pairs, labels = keras.preprocessing.sequence.skipgrams(
                sequence, vocabulary_size=vocabulary_size, window_size=window_size,
                negative_samples=2, sampling_table=table,
            )
            for pair, label in zip(pairs, labels):
                weights[(pair[0], pair[1], label)] += 1
        return weights


    counts = count_pairs(walks, 2, 8)
    print("PAIRS", sorted(counts.items()))
    print("TABLE", np.round(table, 6).tolist())
    print("CAT", keras.preprocessing.sequence.skipgrams([4, 1, 2], 5, window_size=1,
                                                        categorical=True, seed=3))
""")


def _run(python: str, script: Path, env: dict[str, str], blocked: bool) -> str:
    argv = [python, "-c", BLOCKED, str(script)] if blocked else [python, str(script)]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=script.parent,
                         env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return run.stdout


def test_positive_pairs_are_the_window_neighbours() -> None:
    pairs, labels = skipgrams([3, 0, 5, 7], 8, window_size=1, negative_samples=0.0,
                              shuffle=False)
    assert pairs == [[5, 7], [7, 5]]  # 0 is a non-word: neither a centre nor a neighbour
    assert labels == [1, 1]
    pairs, labels = skipgrams([3, 5, 7], 8, window_size=2, negative_samples=1.0)
    assert sorted(labels) == [0] * 6 + [1] * 6
    assert all(1 <= p[1] <= 7 for p, lab in zip(pairs, labels, strict=True) if lab == 0)


def test_sampling_table_keeps_rare_words() -> None:
    table = make_sampling_table(1000)
    assert table.shape == (1000,) and np.all(np.diff(table[1:]) >= 0) and table[-1] <= 1.0


def test_converted_script_needs_no_tensorflow_and_matches_tf_keras(tmp_path: Path) -> None:
    res = convert_source(SCRIPT)
    assert not re.search(r"^\s*(import|from)\s+(keras|tensorflow)\b", res.source, re.M), \
        res.source
    assert "pairs, labels = skipgrams(" in res.source and not res.unmapped
    script = tmp_path / "converted.py"
    script.write_text(res.source)
    ours = _run(sys.executable, script, dict(os.environ), blocked=True)
    assert ours.startswith("PAIRS [((1, ") and "CAT (" in ours, ours
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0]
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    original = tmp_path / "original.py"
    original.write_text(SCRIPT.replace("from tensorflow import keras", "import tf_keras as keras"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    assert ours == _run(python, original, env, blocked=False)
