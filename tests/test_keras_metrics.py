"""keras.metrics objects in compile(): the converted metrics compute Keras 3's numbers.

The confusion metrics (runtime/keras_metrics.py) are checked batch by batch against Keras's
own objects; whole converted models against ``model.evaluate`` with the same weights; the
compile-list form (``METRICS = [...]``; ``compile(metrics=METRICS)``) end to end in a
process without Keras.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.rules.training.metrics import METRICS, with_params
from agent.rules.training.runtime.keras_metrics import KerasConfusionMetric
from agent.weights import port_weights

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

CONFUSION = [("tp", "TruePositives"), ("fp", "FalsePositives"), ("tn", "TrueNegatives"),
             ("fn", "FalseNegatives"), ("precision", "Precision"), ("recall", "Recall")]


@pytest.mark.parametrize("threshold", [0.5, 0.3])
@pytest.mark.parametrize("kind,cls", CONFUSION)
def test_confusion_metric_matches_keras_over_batches(kind: str, cls: str, threshold: float
                                                     ) -> None:
    """Raw scores outside [0, 1] (no sigmoid), targets 0/1/2 (nonzero is positive), (n, 1)
    predictions against (n,) targets, a batch with no predicted positive."""
    rng = np.random.default_rng(1)
    batches = [(rng.normal(0.5, 1.0, (9, 1)).astype("float32"),
                rng.integers(0, 3, (9,)).astype("float32")) for _ in range(3)]
    batches.append((np.full((4, 1), -1.0, "float32"), np.ones((4,), "float32")))
    theirs = getattr(keras.metrics, cls)(thresholds=threshold)
    ours = KerasConfusionMetric(kind, thresholds=threshold)
    for p, y in batches:
        theirs.update_state(y, p)
        ours.update(torch.as_tensor(p), torch.as_tensor(y))
    expected = float(keras.ops.convert_to_numpy(theirs.result()))
    assert abs(float(ours.compute()) - expected) <= 1e-6, (float(ours.compute()), expected)


@pytest.mark.parametrize("kind", ["precision", "recall"])
def test_ratio_with_nothing_counted_is_zero_like_keras(kind: str) -> None:
    theirs = getattr(keras.metrics, kind.capitalize())()
    theirs.update_state(np.zeros((3,), "float32"), np.zeros((3,), "float32"))
    ours = KerasConfusionMetric(kind)
    ours.update(torch.zeros(3), torch.zeros(3))
    assert float(ours.compute()) == float(keras.ops.convert_to_numpy(theirs.result())) == 0.0


def test_top_k_counts_ties_at_the_boundary_like_keras() -> None:
    """Keras's in_top_k: a target tied with the k-th largest score is in the top k
    (torch.topk's indices would pick one of the tied classes)."""
    p = np.array([[0.1, 0.3, 0.3, 0.3], [0.4, 0.2, 0.2, 0.2], [0.25, 0.25, 0.25, 0.25]],
                 "float32")
    y = np.eye(4, dtype="float32")[[3, 2, 0]]
    spec = with_params(next(s for s in METRICS if s.keras_name == "top_k_categorical_accuracy"),
                       {"k": "2"})
    assert spec.batch_mean is not None
    code = spec.batch_mean.replace("{p}", "p").replace("{y}", "y")
    got = float(eval(code, {"p": torch.as_tensor(p), "y": torch.as_tensor(y)}))
    expected = float(np.mean(keras.ops.convert_to_numpy(
        keras.metrics.top_k_categorical_accuracy(y, p, k=2))))
    assert got == expected == 1.0


MODEL = """\
import keras

model = keras.Sequential([
    keras.Input(shape=(6,)),
    keras.layers.Dense(8, activation="relu"),
    keras.layers.Dense({units}, activation="{act}"),
])
METRICS = [
{metrics}
]
model.compile(optimizer="adam", loss="{loss}", metrics=METRICS)
"""

EVAL_CASES = {
    "binary": (1, "sigmoid", "binary_crossentropy", [
        'keras.metrics.TruePositives(name="tp")', 'keras.metrics.FalsePositives(name="fp")',
        'keras.metrics.TrueNegatives(name="tn")', 'keras.metrics.FalseNegatives(name="fn")',
        'keras.metrics.Precision(name="precision", thresholds=0.4)',
        "keras.metrics.Recall()"]),
    "raw_scores": (1, "linear", "mse", [
        "keras.metrics.TruePositives()", "keras.metrics.Precision()", "keras.metrics.Recall()"]),
    "classes": (5, "softmax", "categorical_crossentropy", [
        "keras.metrics.TopKCategoricalAccuracy(k=3)", "keras.metrics.CosineSimilarity()",
        "keras.metrics.Precision()", 'keras.metrics.Recall(name="rec")']),
}


@pytest.mark.parametrize("case", sorted(EVAL_CASES))
def test_converted_metrics_match_keras_evaluate(case: str) -> None:
    """The converted step's metrics, accumulated over the batches of one epoch, are
    ``model.evaluate``'s values under the same keys (same weights, no training)."""
    units, act, loss, metrics = EVAL_CASES[case]
    src = MODEL.format(units=units, act=act, loss=loss,
                       metrics="\n".join(f"    {m}," for m in metrics))
    keras.backend.clear_session()  # default names as in a fresh script ("recall", not "recall_3")
    keras.utils.set_random_seed(0)
    ns: dict[str, Any] = {}
    exec(compile(src, "<keras>", "exec"), ns)
    res = convert_source(src)
    assert "TODO(k2l)" not in res.source and "METRICS" not in res.source, res.source
    tns: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), tns)
    port_weights(ns["model"], tns["model"])
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 6)).astype("float32")
    if units == 1:
        y = rng.integers(0, 2, (40, 1)).astype("float32")
    else:
        y = np.eye(units, dtype="float32")[rng.integers(0, units, 40)]
    expected = ns["model"].evaluate(x, y, batch_size=16, return_dict=True, verbose=0)
    tmodel = tns["model"]
    for start in range(0, 40, 16):
        tmodel.training_step([torch.as_tensor(x[start:start + 16]),
                              torch.as_tensor(y[start:start + 16])], 0)
    got = {key: float(value) for key, value in tmodel.train_metrics.compute().items()}
    got |= {key: float(value) for key, value in tmodel.train_means.compute().items()}
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert abs(got[key] - value) <= 1e-5 * max(1.0, abs(value)), (key, got, expected)


def test_metric_arguments_it_cannot_reproduce_are_reported() -> None:
    """``top_k=``/``class_id=``, a list of thresholds, a positional argument: one TODO each,
    and the list stays (nothing of it is silently dropped)."""
    src = MODEL.format(units=1, act="sigmoid", loss="binary_crossentropy", metrics="\n".join([
        "    keras.metrics.Precision(top_k=2),", "    keras.metrics.Recall(thresholds=[0.3, 0.6]),",
        "    keras.metrics.TopKCategoricalAccuracy(3),", "    keras.metrics.Recall(),"]))
    res = convert_source(src)
    assert res.source.count("TODO(k2l): metric") == 3, res.source
    assert "METRICS = [" in res.source


BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")

SCRIPT = """\
import numpy as np
from tensorflow import keras

rng = np.random.default_rng(0)
x = rng.normal(size=(64, 6)).astype("float32")
y = (rng.random((64, 1)) > 0.5).astype("float32")
METRICS = [
    keras.metrics.FalseNegatives(name="fn"),
    keras.metrics.FalsePositives(name="fp"),
    keras.metrics.TrueNegatives(name="tn"),
    keras.metrics.TruePositives(name="tp"),
    keras.metrics.Precision(name="precision"),
    keras.metrics.Recall(name="recall"),
]
model = keras.Sequential([
    keras.Input(shape=(6,)),
    keras.layers.Dense(8, activation="relu"),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=METRICS)
history = model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, verbose=0)
print("KEYS", sorted(history.history))
print("COUNTS", history.history["tp"][0] + history.history["fn"][0]
      + history.history["fp"][0] + history.history["tn"][0])
"""


def test_compile_metric_list_script_runs_without_keras(tmp_path: Path) -> None:
    """The module-level list of metric objects goes with the compile it fed; the script runs
    with keras and tensorflow unimportable and logs Keras's keys (the original's, run here)."""
    res = convert_source(SCRIPT)
    assert res.keras_deps == [] and "TODO(k2l)" not in res.source, res.source
    assert "METRICS" not in res.source
    script = tmp_path / "train.py"
    script.write_text(res.source)
    env = {**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"}
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=180, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    printed = io.StringIO()
    keras.backend.clear_session()
    with contextlib.redirect_stdout(printed):
        exec(compile(SCRIPT.replace("from tensorflow import keras", "import keras"),
                     "<keras>", "exec"), {})
    keras_lines = printed.getvalue().splitlines()
    assert keras_lines[0] in run.stdout.splitlines(), (keras_lines, run.stdout)
    # fast_dev_run: one training batch of 16 samples, each counted once in exactly one cell
    assert "COUNTS 16.0" in run.stdout, run.stdout


COSINE = """\
import numpy as np
from tensorflow import keras

a = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
b = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
cosine = keras.metrics.CosineSimilarity()
first = float(cosine(a, b))
both = float(cosine(b, b))
"""


def test_standalone_cosine_similarity_object_keeps_its_running_mean() -> None:
    """A metric object called outside compile (a stateful running mean, as Keras's)."""
    res = convert_source(COSINE)
    assert res.keras_deps == [] and "TODO(k2l)" not in res.source, res.source
    ours: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), ours)
    theirs: dict[str, Any] = {}
    exec(compile(COSINE.replace("from tensorflow import keras", "import keras"), "<keras>",
                 "exec"), theirs)
    for key in ("first", "both"):
        assert abs(ours[key] - theirs[key]) <= 1e-6, (key, ours[key], theirs[key])
    assert abs(theirs["first"] - theirs["both"]) > 0.1  # the second value is a running mean


TRACKERS = """\
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import metrics


class Trainer(keras.Model):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.loss_tracker = metrics.Mean(name="loss")
        self.gap_tracker = keras.metrics.MeanAbsoluteError(name="gap")

    def call(self, x):
        return self.net(x)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            pred = self.net(x, training=True)
            loss = tf.reduce_mean(tf.square(pred - y))
        grads = tape.gradient(loss, self.net.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.net.trainable_weights))
        self.loss_tracker.update_state(loss)
        self.gap_tracker.update_state(y, pred)
        return {m.name: m.result() for m in self.metrics}

    @property
    def metrics(self):
        return [self.loss_tracker, self.gap_tracker]


net = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
model = Trainer(net)
model.compile(optimizer=keras.optimizers.Adam(1e-3))
x = np.random.rand(32, 4).astype("float32")
y = np.random.rand(32, 1).astype("float32")
history = model.fit(x, y, batch_size=8, epochs=2)
print("KEYS", sorted(history.history))
"""


def test_tracker_metrics_property_converts_with_a_metrics_module_import(tmp_path: Path
                                                                        ) -> None:
    """``from keras import metrics`` and a ``def metrics(self)`` property: the method's name
    is no reference to the module (no TODO); the trackers log under their names."""
    res = convert_source(TRACKERS)
    assert res.keras_deps == [] and "TODO(k2l)" not in res.source, res.source
    script = tmp_path / "train.py"
    script.write_text(res.source)
    env = {**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"}
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=180, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "KEYS ['gap', 'loss']" in run.stdout, run.stdout



COMPILE_TRACKER = """\
import numpy as np
import tensorflow as tf
from tensorflow import keras


class PairTrainer(keras.Model):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def compile(self, optimizer, loss_fn):
        super().compile()
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.fit_tracker = keras.metrics.Mean(name="loss")

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            pred = self.net(x, training=True)
            loss = self.loss_fn(y, pred)
        grads = tape.gradient(loss, self.net.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.net.trainable_weights))
        self.fit_tracker.update_state(loss)
        return {"fit_loss": self.fit_tracker.result()}

    @property
    def metrics(self):
        return [self.fit_tracker]


net = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
model = PairTrainer(net)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss_fn=keras.losses.MeanSquaredError())
x = np.random.rand(32, 4).astype("float32")
y = np.random.rand(32, 1).astype("float32")
history = model.fit(x, y, batch_size=8, epochs=2)
print("KEYS", sorted(history.history))
"""


def test_tracker_made_in_a_compile_override_converts(tmp_path: Path) -> None:
    """``compile(self, optimizer, loss_fn)`` that makes ``keras.metrics.Mean`` trackers: the
    object rules convert them there as in ``__init__`` (no stale TODO on the method)."""
    res = convert_source(COMPILE_TRACKER)
    assert res.keras_deps == [] and "TODO(k2l)" not in res.source, res.source
    assert 'self.fit_tracker = KerasMetric(None, name="loss")' in res.source
    script = tmp_path / "train.py"
    script.write_text(res.source)
    env = {**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"}
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=180, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "KEYS ['fit_loss']" in run.stdout, run.stdout


OWN_NAMED_LIKE_KERAS = """\
import keras
from keras import ops


def accuracy(y_true, y_pred):
    return ops.mean(ops.cast(ops.equal(y_true, ops.cast(y_pred < 0.5, y_true.dtype)), "float32"))


model = keras.Sequential([
    keras.Input(shape=(6,)),
    keras.layers.Dense(8, activation="relu"),
    keras.layers.Dense(1),
])
model.compile(optimizer="rmsprop", loss="mse", metrics=[accuracy])
"""


def test_the_scripts_own_function_named_like_a_keras_metric_is_the_metric() -> None:
    """``metrics=[accuracy]`` with the script's ``def accuracy``: Keras averages that function
    (a siamese distance below 0.5 counts as "same"), not its own accuracy, so the converted
    step calls the converted function; equal to ``evaluate``'s value, same weights."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    ns: dict[str, Any] = {}
    exec(compile(OWN_NAMED_LIKE_KERAS, "<keras>", "exec"), ns)
    res = convert_source(OWN_NAMED_LIKE_KERAS)
    assert "TODO(k2l)" not in res.source and "accuracy(y, " in res.source, res.source
    tns: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), tns)
    port_weights(ns["model"], tns["model"])
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 6)).astype("float32")
    y = rng.integers(0, 2, (40, 1)).astype("float32")
    # equal batches: Keras counts a function's scalar once per batch, the converted step
    # weighs it by the batch's size (the same mean unless the last batch is short)
    expected = ns["model"].evaluate(x, y, batch_size=20, return_dict=True, verbose=0)
    tmodel = tns["model"]
    for start in range(0, 40, 20):
        tmodel.training_step([torch.as_tensor(x[start:start + 20]),
                              torch.as_tensor(y[start:start + 20])], 0)
    got = {key: float(value) for key, value in tmodel.train_means.compute().items()}
    assert sorted(got) == sorted(expected) == ["accuracy", "loss"]
    for key, value in expected.items():
        assert abs(got[key] - value) <= 1e-5 * max(1.0, abs(value)), (key, got, expected)
