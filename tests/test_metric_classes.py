"""keras.metrics.Metric subclasses → torchmetrics.Metric (agent/rules/training/metric_classes.py),
checked against the same class run by Keras 3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.weights import port_weights

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

METRIC = """\
import numpy as np
import keras
from keras import ops


class WeightedHits(keras.metrics.Metric):
    def __init__(self, name="weighted_hits", threshold=0.5, **kwargs):
        super().__init__(name=name, **kwargs)
        self.threshold = threshold
        self.hits = self.add_weight(name="hits", initializer="zeros")
        self.seen = self.add_weight(name="seen", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(ops.reshape(y_true, (-1,)), "float32")
        pred = ops.cast(ops.reshape(y_pred, (-1,)) > self.threshold, "float32")
        hits = ops.cast(ops.equal(pred, y_true), "float32")
        weight = ops.ones_like(hits)
        if sample_weight is not None:
            weight = ops.cast(ops.reshape(sample_weight, (-1,)), "float32")
        self.hits.assign_add(ops.sum(hits * weight))
        self.seen.assign_add(ops.sum(weight))

    def result(self):
        return self.hits / self.seen

    def reset_state(self):
        self.hits.assign(0.0)
        self.seen.assign(0.0)
"""

MODEL = METRIC + """

model = keras.Sequential([
    keras.Input(shape=(6,)),
    keras.layers.Dense(8, activation="relu"),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy",
              metrics=[WeightedHits(), WeightedHits(name="strict", threshold=0.7)])
"""


def _both(src: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    theirs: dict[str, Any] = {}
    exec(compile(src, "<keras>", "exec"), theirs)
    res = convert_source(src)
    assert "TODO(k2l)" not in res.source and res.keras_deps == [], res.source
    ours: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), ours)
    return theirs, ours, res.source


def test_metric_subclass_state_methods_match_keras() -> None:
    """update_state (with and without sample_weight), result, reset_state, name: as Keras."""
    theirs, ours, code = _both(METRIC)
    assert "class WeightedHits(torchmetrics.Metric):" in code
    assert 'self.add_state("hits", torch.zeros(()), dist_reduce_fx="sum")' in code
    rng = np.random.default_rng(2)
    k, t = theirs["WeightedHits"](threshold=0.4), ours["WeightedHits"](threshold=0.4)
    assert k.name == t.name == "weighted_hits"
    for step in range(3):
        y = rng.integers(0, 2, (7, 1)).astype("float32")
        p = rng.random((7, 1)).astype("float32")
        w = rng.random((7,)).astype("float32") if step == 1 else None
        k.update_state(y, p, sample_weight=w)
        t.update_state(torch.as_tensor(y), torch.as_tensor(p),
                       sample_weight=None if w is None else torch.as_tensor(w))
        expected = float(keras.ops.convert_to_numpy(k.result()))
        assert abs(float(t.result()) - expected) <= 1e-6, (step, float(t.result()), expected)
    k.reset_state()
    t.reset_state()
    k.update_state(np.ones((2, 1), "float32"), np.full((2, 1), 0.9, "float32"))
    t.update_state(torch.ones(2, 1), torch.full((2, 1), 0.9))
    assert float(t.result()) == float(keras.ops.convert_to_numpy(k.result())) == 1.0
    t.reset()  # torchmetrics' own reset restores the add_state defaults
    assert float(t.seen) == 0.0 and float(t.hits) == 0.0


def test_metric_subclass_in_compile_matches_keras_evaluate() -> None:
    """compile(metrics=[MyMetric(), MyMetric(name=...)]): logged under the metric's name, fed
    (y_true, y_pred) as Keras does, the probabilities even where the loss reads logits."""
    theirs, ours, code = _both(MODEL)
    assert '"weighted_hits": WeightedHits()' in code and '"strict": WeightedHits(' in code
    port_weights(theirs["model"], ours["model"])
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 6)).astype("float32")
    y = rng.integers(0, 2, (40, 1)).astype("float32")
    expected = theirs["model"].evaluate(x, y, batch_size=16, return_dict=True, verbose=0)
    tmodel = ours["model"]
    for start in range(0, 40, 16):
        tmodel.training_step([torch.as_tensor(x[start:start + 16]),
                              torch.as_tensor(y[start:start + 16])], 0)
    got = {key: float(v) for key, v in tmodel.train_metrics.compute().items()}
    got["loss"] = float(tmodel.train_means.compute()["loss"])
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert abs(got[key] - value) <= 1e-5, (key, got, expected)


BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")


def test_metric_subclass_script_runs_without_keras(tmp_path: Path) -> None:
    script = MODEL + """
rng = np.random.default_rng(0)
x = rng.normal(size=(32, 6)).astype("float32")
y = rng.integers(0, 2, (32, 1)).astype("float32")
history = model.fit(x, y, batch_size=8, epochs=1)
print("KEYS", sorted(history.history))
"""
    res = convert_source(script)
    assert "TODO(k2l)" not in res.source and res.keras_deps == [], res.source
    path = tmp_path / "train.py"
    path.write_text(res.source)
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F,E9,W",
                           "--no-cache", str(path)], capture_output=True, text=True, timeout=60)
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    env = {**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"}
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(path)], capture_output=True,
                         text=True, timeout=180, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "KEYS ['loss', 'strict', 'weighted_hits']" in run.stdout, run.stdout


def test_metric_subclass_it_cannot_convert_stays_and_is_reported() -> None:
    src = METRIC.replace('initializer="zeros")\n        self.seen',
                         'initializer="glorot_uniform")\n        self.seen')
    res = convert_source(src)
    assert "class WeightedHits(keras.metrics.Metric):" in res.source
    assert any("WeightedHits not converted" in u.reason for u in res.unmapped), res.unmapped


def test_metric_states_typed_and_reset_in_a_loop(tmp_path: Path) -> None:
    """States set by add_state are annotated at class level (a type checker sees tensors, not
    ``Tensor | Module``), and ``for v in (self.a, self.b): v.assign(0.0)`` resets them in
    place: the converted class passes the validator's mypy and resets as Keras does."""
    src = METRIC.replace(
        "        self.hits.assign(0.0)\n        self.seen.assign(0.0)\n",
        "        for v in (self.hits, self.seen):\n            v.assign(0.0)\n")
    assert "for v in" in src
    theirs, ours, code = _both(src)
    assert "    hits: torch.Tensor\n    seen: torch.Tensor\n" in code
    k, t = theirs["WeightedHits"](), ours["WeightedHits"]()
    y, p = np.ones((4, 1), "float32"), np.full((4, 1), 0.2, "float32")
    k.update_state(y, p)
    t.update_state(torch.as_tensor(y), torch.as_tensor(p))
    assert float(t.seen) == 4.0
    k.reset_state()
    t.reset_state()
    k.update_state(y[:2], 1 - p[:2])
    t.update_state(torch.as_tensor(y[:2]), torch.as_tensor(1 - p[:2]))
    assert float(t.result()) == float(keras.ops.convert_to_numpy(k.result())) == 1.0
    assert float(t.seen) == 2.0
    from agent.tools.mypy import run_mypy

    path = tmp_path / "metric.py"
    path.write_text(code)
    result = run_mypy([path], cache_dir=tmp_path / "cache")[path]
    assert result.status == "passed", [d.message for d in result.diagnostics]
