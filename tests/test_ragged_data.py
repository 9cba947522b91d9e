"""Ragged and partitioned graph data (``tf.ragged.constant`` → runtime/ragged.py,
``tf.dynamic_partition`` → runtime/tensor_ops.py): a script that batches ragged graphs
through tf.data, merges each batch into one graph and pads its partitions in a custom layer
converts, runs without TensorFlow, and prints what TensorFlow prints."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import libcst as cst
import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.rules.imports import collect_imports
from agent.rules.ops.rewrite import convert_expr
from agent.rules.training.runtime.ragged import RaggedRows, ragged_constant
from agent.rules.training.runtime.tensor_ops import dynamic_partition
from agent.tools.tf_original import tf_python
from tests.without_tf import run_without_tf

IMPORTS = collect_imports(cst.parse_module("import tensorflow as tf\n"))


def _conv(code: str) -> tuple[str, list[str]]:
    node, problems = convert_expr(cst.parse_expression(code), IMPORTS, {})
    return cst.Module([]).code_for_node(node), problems


@pytest.mark.parametrize(("before", "after"), [
    ("tf.ragged.constant(rows, dtype=tf.float32)", "ragged_constant(rows, dtype=torch.float32)"),
    ("tf.ragged.constant(rows, ragged_rank=1)", "ragged_constant(rows, ragged_rank=1)"),
    ("tf.dynamic_partition(x, owner, 4)", "dynamic_partition(x, owner, 4)"),
])
def test_rows(before: str, after: str) -> None:
    assert _conv(before) == (after, [])


def test_ragged_constant_pads_every_ragged_axis_as_tf() -> None:
    # TF: ragged_rank 2 (depth 3 - 1), shape (3, None, None); to_tensor pads both axes
    rows = ragged_constant([[[1, 2], [3]], [], [[4, 5, 6]]])
    assert rows.row_lengths().tolist() == [2, 0, 1]
    dense = rows.to_tensor()
    assert dense.dtype == torch.int32  # Python ints: TF's int32
    assert dense.tolist() == [[[1, 2, 0], [3, 0, 0]], [[0, 0, 0], [0, 0, 0]],
                              [[4, 5, 6], [0, 0, 0]]]
    assert rows.to_tensor(default_value=-1)[0].tolist() == [[1, 2, -1], [3, -1, -1]]
    assert rows.merge_dims(0, 1).to_list() == [[1, 2], [3], [4, 5, 6]]
    flat = ragged_constant([[1.5, 2], [3]]).merge_dims(0, 1)  # rank 1 merged: a dense tensor
    assert flat.dtype == torch.float32 and flat.tolist() == [1.5, 2.0, 3.0]
    one_rank = ragged_constant([np.ones((2, 3)), np.zeros((1, 3))], ragged_rank=1)
    assert isinstance(one_rank[0], torch.Tensor) and one_rank.to_tensor().shape == (2, 2, 3)
    pairs = ragged_constant([np.array([]), np.ones((1, 2))], dtype=torch.int64)  # depth 3
    empty = RaggedRows([pairs[0]]).merge_dims(0, 1)  # a batch of the graph without pairs
    assert isinstance(empty, RaggedRows) and empty.to_tensor().dtype == torch.int64


def test_dynamic_partition_keeps_order_and_empty_parts() -> None:
    data = torch.tensor([[1.0, 2], [3, 4], [5, 6]])
    parts = dynamic_partition(data, torch.tensor([1, 0, 1]), 3)
    assert [p.tolist() for p in parts] == [[[3.0, 4.0]], [[1.0, 2.0], [5.0, 6.0]], []]
    assert parts[2].shape == (0, 2)  # TF: shape (0, 2)
    grid = dynamic_partition(torch.tensor([[1.0, 2], [3, 4]]), [[1, 0], [0, 1]], 2)
    assert [p.tolist() for p in grid] == [[2.0, 3.0], [1.0, 4.0]]  # row-major, as TF


SCRIPT = textwrap.dedent('''\
    import numpy as np
    import tensorflow as tf
    from tensorflow.keras import layers


    def graphs(n):
        rng = np.random.default_rng(0)
        features, pairs = [], []
        for k in range(n):
            atoms = k % 3 + 1
            features.append(rng.random((atoms, 3)).round(2))
            pairs.append(np.array([[i, i + 1] for i in range(atoms - 1)]))
        return (
            tf.ragged.constant(features, dtype=tf.float32),
            tf.ragged.constant(pairs, dtype=tf.int64),
        )


    def merge(x_batch, y_batch):
        features, pairs = x_batch
        sizes = features.row_lengths()
        owner = tf.repeat(tf.range(len(sizes)), sizes)
        flat = features.merge_dims(outer_axis=0, inner_axis=1).to_tensor()
        edges = pairs.merge_dims(outer_axis=0, inner_axis=1).to_tensor()
        return (flat, edges, owner), y_batch


    class PadGroups(layers.Layer):
        def __init__(self, groups, **kwargs):
            super().__init__(**kwargs)
            self.groups = groups

        def call(self, inputs):
            features, owner = inputs
            parts = tf.dynamic_partition(features, owner, self.groups)
            sizes = [p.shape[0] for p in parts]
            longest = tf.reduce_max(sizes)
            return tf.stack(
                [tf.pad(p, [(0, longest - n), (0, 0)]) for p, n in zip(parts, sizes)], axis=0
            )


    if __name__ == "__main__":
        x = graphs(5)
        y = np.arange(5, dtype="float32")[:, None]
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(2).map(merge)
        pad = PadGroups(2)
        for (flat, edges, owner), target in dataset:
            print(flat.numpy().round(2).tolist(), edges.numpy().tolist(), owner.numpy().tolist())
            print(pad((flat, owner)).numpy().round(2).tolist())
        print(tf.squeeze(y, axis=1).numpy().tolist())
    ''')


def test_ragged_graph_script_prints_tensorflows_values(tmp_path: Path) -> None:
    result = convert_source(SCRIPT, "graphs.py")
    assert not result.error and not result.unmapped, result.unmapped
    assert result.keras_deps == [], result.keras_deps
    assert "max(sizes)" in result.source  # an int for F.pad, as TF's scalar tensor was
    ours = run_without_tf(result.source, tmp_path, fast_dev_run=False)
    assert ours.returncode == 0, ours.stderr[-3000:]
    assert len(ours.stdout.splitlines()) == 7
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
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()[-7:]


