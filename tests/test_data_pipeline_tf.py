"""The runtime DataPipeline (runtime/data_pipeline.py) against real TensorFlow, for the
methods real scripts chain after ``from_tensor_slices``: ``padded_batch`` (variable-length
elements, tuples and dicts, given shapes and padding values), ``unbatch``, ``zip``,
``take`` on a batched pipeline, ``with_options``. One program runs over both: under a
Python with TensorFlow (``K2L_TEST_TF_PYTHON`` / ``K2L_TF_PYTHON``; else the comparison
skips) on ``tf.data.Dataset``, here on DataPipeline; every element must be equal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from agent.tools.tf_original import tf_python

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = textwrap.dedent('''\
    import json, sys
    import numpy as np

    spec = json.loads(sys.argv[1])
    if spec["tf"]:
        import tensorflow as tf
        D, T, options = tf.data.Dataset, tf.constant, tf.data.Options()
    else:
        sys.path.insert(0, spec["root"])
        import torch
        from agent.rules.training.runtime.data_pipeline import DataPipeline as D
        from agent.rules.training.runtime.data_pipeline import PipelineOptions
        T, options = torch.as_tensor, PipelineOptions()
    options.experimental_deterministic = False
    options.threading.private_threadpool_size = 2
    base = np.arange(10, 20)  # int64
    seqs = D.range(1, 6).map(lambda n: (T(base)[:n], n * 2))
    named = D.range(1, 5).map(lambda n: {"ids": T(base)[:n], "n": n})
    grid = D.from_tensor_slices(np.arange(24.0, dtype="float32").reshape(6, 2, 2))
    cases = {
        "padded": seqs.padded_batch(2),
        "shaped": seqs.padded_batch(2, padded_shapes=([7], []),
                                    padding_values=(np.int64(-1), np.int64(0))),
        "dropped": seqs.padded_batch(2, drop_remainder=True),
        "named": named.padded_batch(3),
        "unbatched": seqs.padded_batch(2).unbatch(),
        "taken": grid.batch(4).take(1),
        "zipped": D.zip((grid, D.range(6))).batch(4),
        "options": grid.with_options(options).batch(5),
    }
    out = {}
    for case, ds in cases.items():
        for b, element in enumerate(ds):
            parts = element if isinstance(element, (tuple, dict)) else (element,)
            keys = parts if isinstance(parts, dict) else range(len(parts))
            for k in keys:
                t = parts[k]
                out[f"{case}_{b}_{k}"] = np.asarray(t.numpy() if hasattr(t, "numpy") else t)
    np.savez(spec["out"], **out)
    ''')


def _elements(python: str, tmp_path: Path, tf: bool) -> dict[str, np.ndarray]:
    program = tmp_path / "program.py"
    program.write_text(PROGRAM, encoding="utf-8")
    out = tmp_path / f"elements_{int(tf)}.npz"
    spec = json.dumps({"tf": tf, "root": str(ROOT), "out": str(out)})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": "",
           "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([python, str(program), spec], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


def test_padded_batch_pads_each_component_to_the_longest() -> None:
    """Without TensorFlow: the numbers tf.data's documentation gives."""
    from agent.rules.training.runtime.data_pipeline import DataPipeline as D

    rows = [np.arange(1, n + 1) for n in (1, 3, 2)]
    ds = D.from_generator(lambda: iter(rows)).padded_batch(2)
    assert [b.tolist() for b in ds] == [[[1, 0, 0], [1, 2, 3]], [[1, 2]]]
    fixed = D.from_generator(lambda: iter(rows)).padded_batch(3, padded_shapes=[4],
                                                              padding_values=-1)
    assert [b.tolist() for b in fixed] == [[[1, -1, -1, -1], [1, 2, 3, -1], [1, 2, -1, -1]]]
    assert len(D.range(5).padded_batch(2)) == 3
    assert len(D.range(5).padded_batch(2, drop_remainder=True)) == 2


@pytest.mark.tensorflow
def test_pipeline_methods_give_tensorflows_elements(tmp_path: Path) -> None:
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0]
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    theirs = _elements(python, tmp_path, tf=True)
    ours = _elements(sys.executable, tmp_path, tf=False)
    assert sorted(ours) == sorted(theirs)
    for key, want in theirs.items():
        assert ours[key].shape == want.shape, key
        assert ours[key].dtype == want.dtype, (key, ours[key].dtype, want.dtype)
        np.testing.assert_array_equal(ours[key], want, err_msg=key)


def test_numpy_iterator_gives_strings_as_tensorflows_bytes() -> None:
    """``as_numpy_iterator`` as TF gives it (values printed by TensorFlow 2.20): a string
    as UTF-8 bytes, a batch of them as an object array of bytes, a scalar as a NumPy
    scalar."""
    from agent.rules.training.runtime.data_pipeline import DataPipeline as D

    names = D.from_tensor_slices(["ab", "cé", "d"])
    assert list(names.as_numpy_iterator()) == [b"ab", b"c\xc3\xa9", b"d"]
    first = next(names.batch(2).as_numpy_iterator())
    assert first.dtype == object and first.tolist() == [b"ab", b"c\xc3\xa9"]
    pairs = list(D.zip((names, D.range(3))).as_numpy_iterator())
    assert pairs[1] == (b"c\xc3\xa9", 1) and isinstance(pairs[1][1], np.integer)
