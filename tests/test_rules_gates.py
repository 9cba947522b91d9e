"""The cheap gates of the rules stage (issue 9, speed): a pass whose words are absent hands
its input back untouched, and a name spelled through an alias still reaches the pass."""

from __future__ import annotations

import ast
import textwrap

import libcst as cst

from agent.rules.imports import collect_imports
from agent.rules.ops.functions import candidates
from agent.rules.training.utilities import (
    copy_missing_runtime,
    first_keras_model,
    inline_utilities,
)

MODEL_ONLY = textwrap.dedent('''\
    from tensorflow import keras


    def build_functional(width):
        inputs = keras.Input(shape=(width,))
        return keras.Model(inputs, keras.layers.Dense(2)(inputs))
    ''')


def _imports(code: str):  # type: ignore[no-untyped-def]
    return collect_imports(cst.parse_module(code))


def test_a_module_without_data_utilities_comes_back_as_the_same_string() -> None:
    # "functional" passes the old coarse hint: the word gates must still see nothing to do
    done = inline_utilities(MODEL_ONLY, _imports(MODEL_ONLY))
    assert done.code is MODEL_ONLY
    assert not done.changes and not done.kept


def test_an_aliased_utility_is_still_inlined() -> None:
    code = textwrap.dedent('''\
        import numpy as np
        from tensorflow.keras.utils import to_categorical as onehot

        labels = onehot(np.array([0, 2, 1]), 3)
        ''')
    done = inline_utilities(code, _imports(code))
    assert [rule for _, rule, _ in done.changes] == ["data.to_categorical"]
    assert "def to_categorical(" in done.code
    assert "labels = to_categorical(np.array([0, 2, 1]), 3)" in done.code


def test_copy_missing_runtime_returns_the_same_string_when_no_runtime_name_is_read() -> None:
    code = "import torch\n\nx = torch.zeros(3)\n"
    assert copy_missing_runtime(code) is code
    uses = "import os\n\nfound = gfile_exists(os.getcwd())\n"  # an op row's runtime function
    assert "def gfile_exists(" in copy_missing_runtime(uses)


def test_candidates_give_the_same_functions_with_or_without_the_source_text() -> None:
    plain = MODEL_ONLY + textwrap.dedent('''

        def count(values):
            return len(values) + 1


        @keras.saving.register_keras_serializable()
        def scale(x):
            return x * 2
        ''')  # the only framework name of scale is in its decorator
    piped = plain + "\nds = make_dataset().map(scale)\nprint(count([scale]))\n"
    for code, want in ((plain, ["build_functional", "scale"]), (piped, ["build_functional"])):
        module = cst.parse_module(code)
        imports = _imports(code)
        assert candidates(module, imports, code) == candidates(module, imports) == want


def test_first_keras_model_reads_aliases_and_skips_plain_names() -> None:
    aliased = "from tensorflow.keras import layers as L\n\nsize = 3\nhead = L.Dense(size)\n"
    assert first_keras_model(ast.parse(aliased), _imports(aliased)) == "keras.layers.Dense"
    plain = "from tensorflow.keras.utils import to_categorical\n\ny = to_categorical([1], 2)\n"
    assert first_keras_model(ast.parse(plain), _imports(plain)) is None
