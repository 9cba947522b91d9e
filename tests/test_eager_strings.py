"""``tf.strings.reduce_join(...).numpy()`` read eagerly outside pipelines
(agent/rules/ops/eager_strings.py): the joined text as TF's bytes, or the ``str`` when they
are decoded, in data code; a script decoding indices to text through an inverted
StringLookup converts and prints what TensorFlow prints."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import libcst as cst
import pytest

from agent.rules.convert import convert_source
from agent.rules.imports import collect_imports
from agent.rules.ops.rewrite import convert_expr
from agent.tools.tf_original import tf_python

IMPORTS = collect_imports(cst.parse_module("import tensorflow as tf\n"))


def _conv(code: str) -> tuple[str, list[str]]:
    node, problems = convert_expr(cst.parse_expression(code), IMPORTS, {})
    return cst.Module([]).code_for_node(node), problems


@pytest.mark.parametrize(("before", "after"), [
    ('tf.strings.reduce_join(chars).numpy().decode("utf-8")', "strings_reduce_join(chars)"),
    ("tf.strings.reduce_join(chars).numpy().decode()", "strings_reduce_join(chars)"),
    ('tf.strings.reduce_join(chars, separator=" ").numpy()',
     'strings_reduce_join(chars, separator=" ").encode()'),
    ('tf.strings.reduce_join(chars).numpy().decode("latin-1")',
     'strings_reduce_join(chars).encode().decode("latin-1")'),
])
def test_reduce_join_read_by_numpy_converts(before: str, after: str) -> None:
    assert _conv(before) == (after, [])


@pytest.mark.parametrize("code", [
    "tf.strings.reduce_join(chars)",  # a TF string tensor: only pipelines carry strings
    "tf.strings.reduce_join(chars, keepdims=True).numpy()",  # an array, not bytes
    "tf.strings.lower(text).numpy()",  # an array of bytes for an array input
])
def test_string_ops_not_read_as_one_string_stay(code: str) -> None:
    out, problems = _conv(code)
    assert out == code and problems


SCRIPT = textwrap.dedent('''\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras

    characters = list("abcdé ")
    num_to_char = keras.layers.StringLookup(vocabulary=characters, oov_token="", invert=True)


    def decode(indices):
        return tf.strings.reduce_join(num_to_char(indices)).numpy().decode("utf-8")


    if __name__ == "__main__":
        joined = tf.strings.reduce_join(num_to_char(np.array([2, 1, 6])), separator="+").numpy()
        print(repr(decode(np.array([1, 5, 6, 3, 0, 4]))), repr(joined))
    ''')


def test_index_to_text_script_prints_tensorflows_text(tmp_path: Path) -> None:
    result = convert_source(SCRIPT, "decode.py")
    assert not result.error and not result.unmapped, result.unmapped
    assert result.keras_deps == [], result.keras_deps
    converted = tmp_path / "converted.py"
    converted.write_text(result.source, encoding="utf-8")
    blocked = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None;"
               " runpy.run_path(sys.argv[1], run_name='__main__')")
    ours = subprocess.run([sys.executable, "-c", blocked, str(converted)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert ours.returncode == 0, ours.stderr[-3000:]
    # index 0 is the OOV token "", 1.. the vocabulary
    assert ours.stdout.strip() == "'aé cd' b'b+a+ '"
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0] or ""
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    original = tmp_path / "original.py"
    original.write_text(SCRIPT, encoding="utf-8")
    theirs = subprocess.run([python, str(original)], capture_output=True, text=True, timeout=300,
                            check=False, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                                              "KERAS_BACKEND": "tensorflow",
                                              "CUDA_VISIBLE_DEVICES": ""})
    assert theirs.returncode == 0, theirs.stderr[-3000:]
    assert ours.stdout.strip() == theirs.stdout.strip().splitlines()[-1]
