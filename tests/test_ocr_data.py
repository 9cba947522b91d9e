"""OCR data code (``tf.image.resize(..., preserve_aspect_ratio=True)``, computed ``tf.pad``
sizes, ``tf.sparse.from_dense`` + ``tf.edit_distance``): a script of those converts, runs
without TensorFlow and prints what TensorFlow prints; the edit distance's normalisation
(an empty truth: inf, or 0 against an empty hypothesis) and zero-dropping as TF's."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import libcst as cst
import pytest
import torch

from agent.rules.convert import convert_source
from agent.rules.imports import collect_imports
from agent.rules.ops.rewrite import convert_expr
from agent.rules.training.runtime.tensor_ops import sparse_edit_distance
from agent.tools.tf_original import tf_python
from tests.without_tf import run_without_tf

IMPORTS = collect_imports(cst.parse_module("import tensorflow as tf\n"))


def _conv(code: str) -> tuple[str, list[str]]:
    node, problems = convert_expr(cst.parse_expression(code), IMPORTS, {})
    return cst.Module([]).code_for_node(node), problems


@pytest.mark.parametrize(("before", "after"), [
    ("tf.sparse.from_dense(labels)", "torch.as_tensor(labels).to_sparse()"),
    ("tf.edit_distance(hyp, truth)", "sparse_edit_distance(hyp, truth)"),
    ("tf.edit_distance(hyp, truth, normalize=False)",
     "sparse_edit_distance(hyp, truth, normalize=False)"),
])
def test_rows(before: str, after: str) -> None:
    assert _conv(before) == (after, [])


def _sparse(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows).to_sparse()


def test_edit_distance_reads_nonzero_values_in_order() -> None:
    truth = _sparse([[1, 2, 3, 99], [0, 0, 0, 0], [4, 0, 5, 6]])  # zeros are absent entries
    hyp = _sparse([[1, 3, 3, -1], [2, 0, 0, -1], [4, 5, 0, 0]])
    assert sparse_edit_distance(hyp, truth, normalize=False).tolist() == [2.0, 2.0, 1.0]
    normalized = sparse_edit_distance(hyp, truth)
    assert normalized.dtype == torch.float32
    assert normalized.tolist() == [0.5, float("inf"), pytest.approx(1 / 3)]
    assert sparse_edit_distance(_sparse([[0, 0]]), _sparse([[0, 0]])).tolist() == [0.0]
    # batches of different sizes: the larger one; a missing row is empty
    assert sparse_edit_distance(_sparse([[1, 2]]), _sparse([[1, 2], [3, 0]])).tolist() \
        == [0.0, 1.0]


SCRIPT = textwrap.dedent('''\
    import numpy as np
    import tensorflow as tf


    def fit_image(image, width, height):
        image = tf.image.resize(image, size=(height, width), preserve_aspect_ratio=True)
        pad_height = height - tf.shape(image)[0]
        pad_width = width - tf.shape(image)[1]
        top = pad_height // 2 + pad_height % 2
        left = pad_width // 2 + pad_width % 2
        image = tf.pad(
            image,
            paddings=[[top, pad_height - top], [left, pad_width - left], [0, 0]],
        )
        image = tf.transpose(image, perm=[1, 0, 2])
        image = tf.image.flip_left_right(image)
        return image


    def mean_edit_distance(labels, predictions):
        sparse_labels = tf.cast(tf.sparse.from_dense(labels), dtype=tf.int64)
        sparse_predictions = tf.cast(tf.sparse.from_dense(predictions), dtype=tf.int64)
        distances = tf.edit_distance(sparse_predictions, sparse_labels, normalize=False)
        return tf.reduce_mean(distances)


    if __name__ == "__main__":
        rng = np.random.default_rng(3)
        for shape in [(20, 50, 1), (9, 4, 1), (31, 31, 1)]:
            image = fit_image(rng.random(shape).astype("float32"), 32, 16)
            print(tuple(image.shape), np.round(image.numpy().sum(), 3))
        labels = np.array([[3, 1, 4, 99, 99], [2, 7, 99, 99, 99]])
        predictions = np.array([[3, 4, 4, 1, -1], [2, 7, -1, -1, -1]])
        print(mean_edit_distance(labels, predictions).numpy())
    ''')


def test_ocr_script_prints_tensorflows_values(tmp_path: Path) -> None:
    result = convert_source(SCRIPT, "ocr.py")
    assert not result.error and not result.unmapped, result.unmapped
    assert result.keras_deps == [], result.keras_deps
    ours = run_without_tf(result.source, tmp_path, fast_dev_run=False)
    assert ours.returncode == 0, ours.stderr[-3000:]
    assert len(ours.stdout.splitlines()) == 4
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
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()[-4:]


LABELS_SCRIPT = textwrap.dedent('''\
    import numpy as np
    import tensorflow as tf
    from tensorflow.keras.layers import StringLookup

    characters = sorted(set("hello world"))
    char_to_num = StringLookup(vocabulary=list(characters), mask_token=None)
    num_to_char = StringLookup(
        vocabulary=char_to_num.get_vocabulary(), mask_token=None, invert=True
    )
    max_len = 6
    padding_token = 99


    def vectorize_label(label):
        label = char_to_num(tf.strings.unicode_split(label, input_encoding="UTF-8"))
        length = tf.shape(label)[0]
        pad_amount = max_len - length
        label = tf.pad(label, paddings=[[0, pad_amount]], constant_values=padding_token)
        return label


    def lengths(pred):
        return np.ones(pred.shape[0]) * pred.shape[1]


    if __name__ == "__main__":
        words = ["hello", "world", "low", "he"]
        dataset = tf.data.Dataset.from_tensor_slices(words).map(vectorize_label).batch(2)
        for labels in dataset:
            for i in range(len(labels)):
                label = labels[i]
                indices = tf.gather(label, tf.where(tf.math.not_equal(label, padding_token)))
                label = tf.strings.reduce_join(num_to_char(indices))
                label = label.numpy().decode("utf-8")
                print(label, labels[i].numpy().tolist())
        probabilities = tf.nn.softmax(np.ones((3, 7, 2), dtype="float32"))
        print(lengths(probabilities).tolist())
    ''')


def test_label_decoding_loop_converts_whole_and_prints_tensorflows_text(tmp_path: Path) -> None:
    """The text read back in two statements (``reduce_join``, then ``.numpy().decode``), a
    StringLookup imported by name (its runtime class takes the name) and a shape read beside
    a NumPy array keep nothing on TensorFlow."""
    result = convert_source(LABELS_SCRIPT, "labels.py")
    assert not result.error and not result.unmapped, result.unmapped
    assert result.keras_deps == [], result.keras_deps
    assert 'label = strings_reduce_join(num_to_char(indices))\n' in result.source
    assert "torch.softmax(" in result.source or "F.softmax(" in result.source
    ours = run_without_tf(result.source, tmp_path, fast_dev_run=False)
    assert ours.returncode == 0, ours.stderr[-3000:]
    assert len(ours.stdout.splitlines()) == 5
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0] or ""
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    original = tmp_path / "original.py"
    original.write_text(LABELS_SCRIPT, encoding="utf-8")
    theirs = subprocess.run([python, str(original)], capture_output=True, text=True, timeout=300,
                            check=False, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                                              "KERAS_BACKEND": "tensorflow",
                                              "CUDA_VISIBLE_DEVICES": ""})
    assert theirs.returncode == 0, theirs.stderr[-3000:]
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()[-5:]
