"""Before/after tests for the training rules: one per table entry, plus the transformer."""

from __future__ import annotations

import inspect
import re
import textwrap

import pytest
import torch

from agent.rules.convert import convert_source
from agent.rules.training.callbacks import CALLBACKS
from agent.rules.training.losses import LOSSES
from agent.rules.training.optimizers import OPTIMIZERS, SCHEDULES

HEAD = """\
import numpy as np
import keras
from keras import layers

model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense({units}, activation="{act}")])
"""


def convert(src: str) -> str:
    res = convert_source(textwrap.dedent(src))
    assert res.error == ""
    compile(res.source, "<converted>", "exec")  # always valid Python
    assert all(len(line) <= 100 for line in res.source.splitlines()
               if line.strip() not in textwrap.dedent(src)), "a generated line over 100"
    return flat(res.source)


def flat(source: str) -> str:
    """Generated code with its line wrapping undone: tests read statements, not layout."""
    source = re.sub(r"([(\[{])\s+", r"\1", source)
    source = re.sub(r",?\s+([)\]}])", r"\1", source)
    return re.sub(r",\s+", ", ", source)


def _section(source: str, name: str) -> str:
    start = source.index(f"def {name}(")
    end = source.find("\n    def ", start + 1)
    return source[start:end if end > 0 else None]


@pytest.mark.parametrize("spec,example", [(s, e) for s in LOSSES for e in s.examples],
                         ids=lambda v: getattr(v, "keras", getattr(v, "name", "")))
def test_loss_entry(spec, example):
    # a linear output: the table's own template (a softmax/sigmoid output reads logits instead)
    units = 1 if spec.kind == "binary" else 3
    src = HEAD.format(units=units, act="linear") + \
        f'model.compile(optimizer="adam", loss={example.keras})\n'
    out = convert(src)
    loss = _section(out, "training_step")
    for sub in example.expect:
        assert sub in loss, (sub, loss)
    assert "TODO(k2l)" not in out
    assert "model.compile" not in out
    assert "def logits(" not in out
    # never a softmax on top of the model's output
    assert "F.cross_entropy(" not in loss or "from_logits=True" in example.keras


@pytest.mark.parametrize("act,loss,expect", [
    ("softmax", '"categorical_crossentropy"', "loss = F.cross_entropy(logits, y)"),
    ("softmax", '"sparse_categorical_crossentropy"',
     "loss = F.cross_entropy(logits, y.reshape(-1))"),
    ("sigmoid", '"binary_crossentropy"',
     "loss = F.binary_cross_entropy_with_logits(logits, y.reshape(logits.shape))"),
])
def test_probability_output_trains_on_logits_as_tf_keras(act: str, loss: str, expect: str):
    units = 1 if act == "sigmoid" else 3
    out = convert(HEAD.format(units=units, act=act)
                  + f'model.compile(optimizer="adam", loss={loss}, metrics=["accuracy"])\n')
    step = _section(out, "training_step")
    assert expect in step, step
    assert "clamp" not in out and "torch.log(" not in out
    assert "logits = self.logits(x)" in step
    forward = _section(out, "forward")
    assert ("F.softmax(self.logits(x), dim=-1)" if act == "softmax"
            else "torch.sigmoid(self.logits(x))") in forward
    assert "F.softmax" not in _section(out, "logits") and "sigmoid" not in _section(out, "logits")


def test_mismatched_activation_keeps_probability_loss():
    """A sigmoid output under categorical crossentropy is not a softmax: no logits split."""
    out = convert(HEAD.format(units=3, act="sigmoid")
                  + 'model.compile(optimizer="adam", loss="categorical_crossentropy")\n')
    assert "def logits(" not in out
    assert "clamp(1e-7, 1 - 1e-7)" in _section(out, "training_step")


@pytest.mark.parametrize("spec,example", [(s, e) for s in OPTIMIZERS for e in s.examples],
                         ids=lambda v: v[0] if isinstance(v, tuple) else v.keras)
def test_optimizer_entry(spec, example):
    keras_expr, expect = example
    src = HEAD.format(units=2, act="linear") + f'model.compile(optimizer={keras_expr}, loss="mse")\n'
    out = convert(src)
    opt = _section(out, "configure_optimizers")
    for sub in expect:
        assert sub in opt, (sub, opt)
    assert "TODO(k2l)" not in out


def test_optimizer_targets_accept_their_keywords():
    """Registry check: every torch keyword the table writes exists on the torch class."""
    from agent.rules.training.runtime import optimizers as runtime_optimizers

    for spec in OPTIMIZERS:
        cls = eval(spec.torch, {"torch": torch, **vars(runtime_optimizers)})
        params = inspect.signature(cls).parameters
        for kw in spec.renames.values():
            assert kw.split("[")[0] in params, (spec.keras, kw)


@pytest.mark.parametrize("spec,example", [(s, e) for s in SCHEDULES for e in s.examples],
                         ids=lambda v: v[0] if isinstance(v, tuple) else v.keras)
def test_schedule_entry(spec, example):
    keras_expr, expect = example
    src = (HEAD.format(units=2, act="linear")
           + f"opt = keras.optimizers.SGD(learning_rate={keras_expr})\n"
           + 'model.compile(optimizer=opt, loss="mse")\n')
    out = convert(src)
    opt = _section(out, "configure_optimizers")
    for sub in expect:
        assert sub in opt, (sub, opt)
    assert "opt = keras" not in out  # the consumed optimizer binding is gone
    assert "TODO(k2l)" not in out


@pytest.mark.parametrize("spec,example", [(s, e) for s in CALLBACKS for e in s.examples],
                         ids=lambda v: v[0] if isinstance(v, tuple) else v.keras)
def test_callback_entry(spec, example):
    keras_expr, expect = example
    src = (HEAD.format(units=2, act="linear") + 'model.compile(optimizer="adam", loss="mse")\n'
           + "x = np.zeros((8, 4)); y = np.zeros((8, 2))\n"
           + f"model.fit(x, y, epochs=2, validation_split=0.25, callbacks=[{keras_expr}])\n")
    out = convert(src)
    for sub in expect:
        assert sub in out, (sub, out)
    assert "keras.callbacks" not in out
    if spec.kind == "logger":
        assert "logger=[pl.loggers." in out
    if spec.kind == "scheduler":
        assert "callbacks=" not in out.split("pl.Trainer(")[1].split("\n")[0]


def test_callbacks_in_a_list_variable_and_plateau_variable():
    out = convert(HEAD.format(units=2, act="linear") + """\
model.compile(optimizer="adam", loss="mse")
x = np.zeros((8, 4)); y = np.zeros((8, 2))
reduce = keras.callbacks.ReduceLROnPlateau(patience=3)
cbs = [keras.callbacks.EarlyStopping(patience=2), reduce, keras.callbacks.CSVLogger("log.csv")]
model.fit(x, y, validation_data=(x, y), callbacks=cbs)
""")
    assert "patience=2" in out  # torch patience = Keras patience - 1
    assert '"monitor": "val_loss"' in _section(out, "configure_optimizers")
    # CSVLogger is Keras's own file now (a callback), so the list needs no logger split
    assert 'KerasCSVLogger("log.csv")' in out and "callbacks=cbs" in out
    assert "reduce]" not in out and "reduce," not in out


def test_multi_output_dict_losses_and_weights():
    out = convert("""\
import keras
from keras import layers

inp = keras.Input(shape=(4,))
h = layers.Dense(8, activation="relu")(inp)
a = layers.Dense(1, activation="sigmoid", name="a")(h)
b = layers.Dense(3, activation="softmax", name="b")(h)
model = keras.Model(inp, [a, b])
model.compile(optimizer="adam", loss={"a": "binary_crossentropy", "b": "categorical_crossentropy"},
              loss_weights={"a": 2.0, "b": 0.5}, metrics={"a": ["accuracy"], "b": ["accuracy"]})
""")
    step = _section(out, "training_step")
    assert "loss = 2.0 * y0_loss + 0.5 * y1_loss" in step
    assert '"a_loss"' in step and '"b_loss"' in step
    # accuracies are batch means: their sample-weighted epoch mean is Keras's value
    assert ('self.train_means.add({"loss": loss, "a_loss": y0_loss, "b_loss": y1_loss, '
            '"a_accuracy": a_accuracy, "b_accuracy": b_accuracy}, batch_size)') in step
    # each head's loss and accuracy read its logits (sigmoid(z) > 0.5 iff z > 0)
    assert "logits0, logits1 = self.logits(inp)" in step
    assert "F.binary_cross_entropy_with_logits(logits0, y0.reshape(logits0.shape))" in step
    assert "a_accuracy = ((logits0 > 0).float() == y0.reshape(logits0.shape)).float().mean()" \
        in step
    assert "b_accuracy = (logits1.argmax(-1) == y1.argmax(-1)).float().mean()" in step
    assert ('KerasEpochMeans(["loss", "a_loss", "b_loss", "a_accuracy", "b_accuracy"])' in out
            and "torchmetrics.Accuracy" not in out)


def test_compile_in_builder_function_uses_hyperparameters():
    out = convert("""\
import keras
from keras import layers

def build_model(lr=0.01):
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="mae")
    return model

model = build_model()
model.summary()
""")
    assert "lr=self.hparams[\"lr\"]" in out
    assert "def __init__(self, lr: float = 0.01)" in out
    assert "(lr=lr)" in out
    assert "ModelSummary(model, max_depth=-1)" in out


def test_sparse_accuracy_and_class_weight():
    out = convert(HEAD.format(units=3, act="softmax") + """\
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
x = np.zeros((8, 4)); y = np.zeros(8)
model.fit(x, y, class_weight={0: 1.0, 1: 2.0, 2: 1.0}, verbose=0)
""")
    assert "dtype=torch.long" in out
    assert "np.asarray(y).reshape(-1)" in out
    step = _section(out, "training_step")
    assert "loss = F.cross_entropy(logits, y.reshape(-1), reduction=\"none\")" in step
    assert "accuracy = (logits.argmax(-1) == y.reshape(-1)).float().mean()" in step
    assert "x, y, *weights = batch" in step and "loss = loss * weights[0]" in step
    assert "enable_progress_bar=False" in out


def test_steps_only_for_the_stages_the_script_uses():
    fit_only = convert(HEAD.format(units=3, act="linear") + """\
model.compile(optimizer="adam", loss="mse")
x = np.zeros((8, 4)); y = np.zeros((8, 3))
model.fit(x, y)
""")
    assert "def training_step(" in fit_only
    for absent in ("validation_step", "test_step", "weights", "flat_batch", "self._step("):
        assert absent not in fit_only, absent
    everything = convert(HEAD.format(units=3, act="linear") + """\
model.compile(optimizer="adam", loss="mse")
x = np.zeros((8, 4)); y = np.zeros((8, 3))
model.fit(x, y, validation_split=0.25)
model.evaluate(x, y)
""")
    for hook, stage in (("training_step", "train"), ("validation_step", "val"),
                        ("test_step", "test")):
        assert f'return self._step(batch, "{stage}")' in _section(everything, hook)
    assert "weights" not in everything


def test_custom_callback_and_sequence_and_tf_data():
    out = convert("""\
import numpy as np
import tensorflow as tf
from tensorflow import keras

class Stop(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if logs["loss"] < 0.1 or epoch > 3:
            self.model.stop_training = True

class Batches(keras.utils.Sequence):
    def __init__(self, x, y, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = x, y
    def __len__(self):
        return 2
    def __getitem__(self, i):
        return self.x[i * 4:(i + 1) * 4], self.y[i * 4:(i + 1) * 4]

x = np.zeros((8, 4), "float32"); y = np.zeros((8, 1), "float32")
ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(8).batch(4).prefetch(tf.data.AUTOTUNE)
model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(ds, epochs=2, callbacks=[Stop()])
model.fit(Batches(x, y), epochs=1)
gen = Batches(x, y)
model.fit(gen, validation_data=ds)
""")
    assert "class Stop(pl.Callback):" in out
    assert "def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule)" in out
    assert "epoch = trainer.current_epoch" in out and "trainer.callback_metrics" in out
    assert "trainer.should_stop = True" in out
    assert "class Batches(Dataset):" in out and "super().__init__()" in out
    # shuffle(8): a buffer tf.data fills and draws from, kept as such by the DataPipeline
    assert "ds = DataPipeline.from_tensor_slices((x, y)).shuffle(8).batch(4).prefetch(" \
           "AUTOTUNE)" in out
    assert "train_loader = DataLoader(ds, batch_size=None)" in out
    assert "callbacks=[Stop()]" in out
    assert "DataLoader(gen, batch_size=None, shuffle=True)" in out
    assert "val_loader = DataLoader(ds, batch_size=None)" in out


def test_save_load_and_gradient_tape_dropped():
    res = convert_source(textwrap.dedent(HEAD.format(units=2, act="linear") + """\
import tensorflow as tf
model.compile(optimizer="adam", loss="mse")
model.save_weights("w.weights.h5")
model.load_weights("w.weights.h5")
model.save("m.keras")
with tf.GradientTape() as tape:
    loss = model(np.zeros((1, 4)))
"""))
    out = res.source
    assert 'torch.save(model.state_dict(), "w.pt")' in out.replace("'", '"')
    assert 'model.load_state_dict(torch.load("w.pt"))' in out.replace("'", '"')
    # torch records gradients without a tape: the body stays, the with goes
    assert "GradientTape" not in out and "\nloss = model(np.zeros((1, 4)))" in out
    assert not any(u.keras_name == "tensorflow.GradientTape" for u in res.unmapped)
    assert any("format" in w.message or ".pt" in w.message for w in res.warnings)


def test_unconvertible_values_stay_visible():
    res = convert_source(textwrap.dedent(HEAD.format(units=2, act="linear") + """\
model.compile(optimizer=make_opt(), loss=keras.losses.Reduction(), metrics=["mystery"])
"""))
    assert res.source.count("TODO(k2l)") >= 3
    assert {u.keras_name for u in res.unmapped} == {"keras.Model.compile"}
    assert "make_opt()" in res.source  # the user's expression is quoted in the TODO


def test_history_is_a_recording_callback():
    res = convert_source(textwrap.dedent(HEAD.format(units=2, act="linear") + """\
model.compile(optimizer="adam", loss="mse")
history = model.fit(np.zeros((4, 4)), np.zeros((4, 2)))
print(history.history["loss"])
"""))
    assert "history = KerasHistory()" in res.source
    assert "callbacks=[history]" in res.source and "\nclass KerasHistory(pl.Callback):" in res.source
    assert 'print(history.history["loss"])' in res.source and "TODO(k2l)" not in res.source
