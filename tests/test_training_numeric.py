"""Numbers, not strings: converted losses/optimizers/schedules against Keras (torch backend),
and a converted training script run end to end with PL_TRAINER_FAST_DEV_RUN=1."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.rules.training.metrics import METRICS, with_params
from agent.weights import port_weights

keras = pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parents[1]


def _build(src: str) -> tuple[Any, Any]:
    """(Keras model from the original script, torch model from the converted one)."""
    keras.utils.set_random_seed(0)
    ns: dict[str, Any] = {}
    exec(compile(src, "<keras>", "exec"), ns)
    res = convert_source(src)
    assert res.error == "" and "TODO(k2l)" not in res.source, res.source
    tns: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), tns)
    port_weights(ns["model"], tns["model"])
    return ns["model"], tns["model"]


# (loss expression, output units, output activation, target kind)
LOSS_CASES = [
    ('"categorical_crossentropy"', 4, "softmax", "onehot"),
    ("keras.losses.CategoricalCrossentropy(from_logits=True)", 4, "linear", "onehot"),
    ("keras.losses.CategoricalCrossentropy(label_smoothing=0.1)", 4, "softmax", "onehot"),
    ('"sparse_categorical_crossentropy"', 4, "softmax", "sparse"),
    ("keras.losses.SparseCategoricalCrossentropy(from_logits=True)", 4, "linear", "sparse"),
    ('"binary_crossentropy"', 1, "sigmoid", "binary"),
    ("keras.losses.BinaryCrossentropy(from_logits=True)", 1, "linear", "binary"),
    ('"binary_crossentropy"', 3, "sigmoid", "multilabel"),
    ('"mse"', 3, "linear", "real"),
    ('"mae"', 3, "linear", "real"),
    ("keras.losses.Huber(delta=0.5)", 3, "linear", "real"),
    ('"kld"', 4, "softmax", "probs"),
    ('"cosine_similarity"', 3, "linear", "real"),
    ('"hinge"', 1, "tanh", "binary"),
    ('"squared_hinge"', 1, "tanh", "binary"),
    ('"categorical_hinge"', 4, "linear", "onehot"),
    ('"msle"', 3, "relu", "positive"),
    ('"poisson"', 3, "softplus", "positive"),
    ('"log_cosh"', 3, "linear", "real"),
]


def _targets(kind: str, units: int, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "onehot":
        return np.eye(units, dtype="float32")[rng.integers(0, units, n)]
    if kind == "sparse":
        return rng.integers(0, units, n).astype("int64")
    if kind == "binary":
        return rng.integers(0, 2, (n, 1)).astype("float32")
    if kind == "multilabel":
        return rng.integers(0, 2, (n, units)).astype("float32")
    if kind == "probs":
        p = rng.random((n, units)).astype("float32")
        return p / p.sum(-1, keepdims=True)
    if kind == "positive":
        return rng.random((n, units)).astype("float32") * 3
    return rng.normal(size=(n, units)).astype("float32")


@pytest.mark.parametrize("loss,units,act,kind", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_matches_keras(loss: str, units: int, act: str, kind: str) -> None:
    src = textwrap.dedent(f"""\
        import keras
        from keras import layers

        model = keras.Sequential([keras.Input(shape=(5,)), layers.Dense(6, activation="relu"),
                                  layers.Dense({units}, activation="{act}")])
        model.compile(optimizer="adam", loss={loss})
        """)
    kmodel, tmodel = _build(src)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 5)).astype("float32")
    y = _targets(kind, units, 16, rng)
    expected = float(kmodel.compute_loss(x=x, y=y, y_pred=kmodel(x)).detach().cpu())
    tmodel.eval()
    got = tmodel.training_step([torch.as_tensor(x), torch.as_tensor(y)], 0)
    assert abs(float(got) - expected) <= 1e-5 * max(1.0, abs(expected)), (float(got), expected)


def test_multi_output_weighted_loss_matches_keras() -> None:
    src = textwrap.dedent("""\
        import keras
        from keras import layers

        inp = keras.Input(shape=(5,))
        h = layers.Dense(6, activation="relu")(inp)
        a = layers.Dense(1, activation="sigmoid", name="a")(h)
        b = layers.Dense(3, activation="softmax", name="b")(h)
        model = keras.Model(inp, [a, b])
        model.compile(optimizer="adam",
                      loss={"a": "binary_crossentropy", "b": "categorical_crossentropy"},
                      loss_weights={"a": 2.0, "b": 0.5})
        """)
    kmodel, tmodel = _build(src)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 5)).astype("float32")
    ya = rng.integers(0, 2, (8, 1)).astype("float32")
    yb = np.eye(3, dtype="float32")[rng.integers(0, 3, 8)]
    expected = float(kmodel.compute_loss(x=x, y=[ya, yb], y_pred=kmodel(x)).detach().cpu())
    got = tmodel.training_step([torch.as_tensor(x), torch.as_tensor(ya), torch.as_tensor(yb)], 0)
    assert abs(float(got) - expected) <= 1e-5 * max(1.0, abs(expected))


OPTIMIZER_CASES = ['"adam"', '"sgd"', "keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True)",
                   '"rmsprop"', '"adamw"', '"adagrad"', '"adadelta"', '"nadam"', '"adamax"']


@pytest.mark.parametrize("opt,scale", [(o, 1.0) for o in OPTIMIZER_CASES] + [
    # gradients near sqrt(epsilon): where epsilon sits in the denominator decides the step
    ('"rmsprop"', 1e-4), ("keras.optimizers.RMSprop(momentum=0.5, centered=True)", 1e-4)])
def test_optimizer_steps_match_keras(opt: str, scale: float) -> None:
    src = textwrap.dedent(f"""\
        import keras
        from keras import layers

        model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)])
        model.compile(optimizer={opt}, loss="mse")
        """)
    kmodel, tmodel = _build(src)
    optimizer = tmodel.configure_optimizers()
    rng = np.random.default_rng(3)
    kvars = kmodel.trainable_variables
    dense = tmodel.layers[0]  # the Sequential is an nn.Sequential
    tparams = [dense.weight, dense.bias]
    for _ in range(3):
        grads = [(scale * rng.normal(size=tuple(v.shape))).astype("float32") for v in kvars]
        kmodel.optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads],
                                             kvars, strict=True))
        optimizer.zero_grad()
        tparams[0].grad = torch.as_tensor(grads[0].T.copy())
        tparams[1].grad = torch.as_tensor(grads[1])
        optimizer.step()
    kw = np.asarray(kvars[0].numpy()).T
    kb = np.asarray(kvars[1].numpy())
    # Adam/RMSprop/Adagrad put epsilon in a slightly different place: O(eps) apart.
    atol = 2e-5
    np.testing.assert_allclose(tparams[0].detach().numpy(), kw, atol=atol)
    np.testing.assert_allclose(tparams[1].detach().numpy(), kb, atol=atol)


SCHEDULE_CASES = [
    "keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)",
    "keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)",
    "keras.optimizers.schedules.CosineDecay(0.1, 20, alpha=0.1)",
    "keras.optimizers.schedules.PiecewiseConstantDecay([5, 12], [0.1, 0.05, 0.01])",
    "keras.optimizers.schedules.InverseTimeDecay(0.1, 10, 0.5)",
    "keras.optimizers.schedules.PolynomialDecay(0.1, 20, 0.01, power=2.0)",
]


@pytest.mark.parametrize("sched", SCHEDULE_CASES)
def test_schedule_per_step_matches_keras(sched: str) -> None:
    src = textwrap.dedent(f"""\
        import keras
        from keras import layers

        model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate={sched}), loss="mse")
        """)
    kmodel, tmodel = _build(src)
    conf = tmodel.configure_optimizers()
    assert conf["lr_scheduler"]["interval"] == "step"
    optimizer, scheduler = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    keras_sched = kmodel.optimizer.learning_rate if callable(
        kmodel.optimizer.learning_rate) else kmodel.optimizer._learning_rate
    for step in range(25):
        expected = float(keras.ops.convert_to_numpy(keras_sched(step)))
        assert abs(optimizer.param_groups[0]["lr"] - expected) < 1e-7, step
        optimizer.step()
        scheduler.step()


def test_training_script_converts_and_runs(tmp_path: Path) -> None:
    script = textwrap.dedent("""\
        import numpy as np
        import keras
        from keras import layers

        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 10)).astype("float32")
        y = keras.utils.to_categorical(rng.integers(0, 3, 64), 3)

        model = keras.Sequential([
            keras.Input(shape=(10,)),
            layers.Dense(32, activation="relu"),
            layers.Dense(3, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        model.summary()
        early = keras.callbacks.EarlyStopping(patience=2)
        history = model.fit(x, y, batch_size=16, epochs=3, validation_split=0.25,
                            callbacks=[early, keras.callbacks.ReduceLROnPlateau(patience=1)])
        loss, acc = model.evaluate(x, y, verbose=0)
        probs = model.predict(x)
        assert probs.shape[1:] == (3,), probs.shape  # fast_dev_run: one batch of predictions
        print("DONE", float(loss), float(acc))
        """)
    res = convert_source(script)
    assert "TODO(k2l)" not in res.source
    out = tmp_path / "train.py"
    out.write_text(res.source)
    ruff = subprocess.run([str(ROOT / ".venv/bin/ruff"), "check", "--select", "F,E9",
                           "--no-cache", str(out)], capture_output=True, text=True, timeout=60)
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    env = {**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1", "PYTHONPATH": str(ROOT)}
    env.pop("KERAS_BACKEND", None)
    run = subprocess.run([sys.executable, str(out)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "DONE" in run.stdout
    # fast_dev_run came from the environment: one batch, no checkpoints or logs written
    assert "fast_dev_run" in run.stdout + run.stderr or "max_steps=1" in run.stdout + run.stderr
    assert not (tmp_path / "lightning_logs").exists()


@pytest.mark.parametrize("regularizers", [
    'kernel_regularizer=keras.regularizers.l2(0.01)',
    'kernel_regularizer="l1", bias_regularizer=keras.regularizers.l1_l2(l1=0.001, l2=0.002)',
])
def test_regularizers_add_to_the_loss_like_keras(regularizers: str) -> None:
    """Keras adds each layer's λ·Σw² (or λ·Σ|w|) to the loss: so must the converted step."""
    src = textwrap.dedent(f"""\
        import keras
        from keras import layers

        model = keras.Sequential([keras.Input(shape=(5,)),
                                  layers.Dense(6, activation="relu", {regularizers}),
                                  layers.Dense(1, {regularizers})])
        model.compile(optimizer="adam", loss="mse")
        """)
    kmodel, tmodel = _build(src)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 5)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    expected = float(kmodel.compute_loss(x=x, y=y, y_pred=kmodel(x)).detach().cpu())
    penalty = float(sum(float(v.detach().cpu()) for v in kmodel.losses))
    assert penalty > 0  # the case really regularizes
    tmodel.eval()
    got = float(tmodel.training_step([torch.as_tensor(x), torch.as_tensor(y)], 0).detach())
    assert abs(got - expected) <= 1e-5 * max(1.0, abs(expected)), (got, expected)
    assert abs(float(tmodel.regularization_loss()) - penalty) <= 1e-5 * max(1.0, penalty)


BATCH_MEAN_CASES = [(s, k) for s in METRICS if s.batch_mean is not None
                    for k in ("probabilities", "labels")]


@pytest.mark.parametrize("spec,kind", BATCH_MEAN_CASES,
                         ids=[f"{s.keras_name}-{k}" for s, k in BATCH_MEAN_CASES])
def test_batch_mean_metrics_match_keras(spec: Any, kind: str) -> None:
    """Metrics logged as per-batch means (Lightning averages them over the epoch by batch
    size) compute Keras's own metric function on each batch."""
    rng = np.random.default_rng(4)
    p = rng.random((12, 4)).astype("float32")
    if spec.keras_name == "binary_accuracy":
        p = p[:, :1]
        y = rng.integers(0, 2, (12, 1)).astype("float32") if kind == "labels" else \
            rng.integers(0, 2, (12,)).astype("float32")
    elif spec.keras_name == "sparse_categorical_accuracy":
        y = rng.integers(0, 4, (12,)).astype("int64") if kind == "labels" else \
            rng.integers(0, 4, (12, 1)).astype("int64")
    elif spec.keras_name in ("categorical_accuracy", "top_k_categorical_accuracy"):
        y = np.eye(4, dtype="float32")[rng.integers(0, 4, 12)]
    elif spec.keras_name == "sparse_top_k_categorical_accuracy":
        y = rng.integers(0, 4, (12,)).astype("int64") if kind == "labels" else \
            rng.integers(0, 4, (12, 1)).astype("int64")
    else:
        y = rng.normal(size=(12, 4)).astype("float32")
    if spec.keras_name == "cosine_similarity":  # a class only: Keras's function is the loss's
        metric = keras.metrics.CosineSimilarity()
        metric.update_state(y, p)
        expected = float(keras.ops.convert_to_numpy(metric.result()))
    elif "top_k" in spec.keras_name:
        expected = float(np.mean(keras.ops.convert_to_numpy(
            getattr(keras.metrics, spec.keras_name)(y, p, k=2))))
    else:
        fn = getattr(keras.metrics, spec.keras_name)
        expected = float(np.mean(keras.ops.convert_to_numpy(fn(y, p))))
    code = with_params(spec, {"k": "2"}).batch_mean.replace("{p}", "p").replace("{y}", "y")
    got = float(eval(code, {"p": torch.as_tensor(p), "y": torch.as_tensor(y),
                            "F": torch.nn.functional}))
    assert abs(got - expected) <= 1e-6, (code, got, expected)
