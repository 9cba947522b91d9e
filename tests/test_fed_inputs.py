"""A model's input shape from what the script feeds it (agent/rules/models/fed_inputs.py).

Each form is read statically first (the shape and dtype the rules infer, and the cases
that must stay unknown). Then whole programs: the converted class's ``example_input_array``
must be exactly the array Keras sees when the original runs (Keras 3 on torch, the data
loaders stubbed with a few samples of the published shapes), and the converted module must
compute what the Keras model computes on it, its weights ported.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap
from pathlib import Path
from typing import Any

import keras
import libcst as cst
import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from agent.equivalence import compare, exec_source
from agent.rules.imports import collect_imports
from agent.rules.models.fed_inputs import Fed, fed_inputs
from agent.rules.values import module_constants
from tests.definitions import convert_and_load


def _fed(src: str) -> dict[str, Fed]:
    module = cst.parse_module(textwrap.dedent(src))
    imports = collect_imports(module)
    found = fed_inputs(module, imports, module_constants(module, imports))
    return {**found.by_name, **{f"{k}()": v for k, v in found.by_callee.items()}}


@pytest.mark.parametrize(("body", "expected"), [
    # build, positional and by keyword
    ("model.build((None, 12))", Fed((12,))),
    ("model.build(input_shape=[None, 4, 3])", Fed((4, 3))),
    # calls on literals and array makers with a literal shape: the batch axis dropped
    ("model([[1, 10, 100]])", Fed((3,), "long")),
    ("model(np.zeros((2, 7)))", Fed((7,))),
    ("model(np.random.rand(1, 5, 2))", Fed((5, 2))),
    ("model(np.random.normal(0, 1, size=(3, 6)))", Fed((6,))),
    ("model(np.random.randint(0, 9, (4, 11)))", Fed((11,), "long")),
    ("model(tf.random.normal([2, 8, 8, 3]))", Fed((8, 8, 3))),
    ("model(keras.random.uniform((1, 9)))", Fed((9,))),
    ("model(tf.zeros((1, 5), dtype=tf.int32))", Fed((5,), "long")),
    ("model.predict(np.ones((1, SIDE, SIDE)))", Fed((16, 16))),
    # a loader's arrays, sliced, cast, scaled, reshaped, expanded
    ("model.fit(x_train, y_train)", Fed((28, 28))),
    ("model.fit(x_train[:100] / 255.0, y_train[:100])", Fed((28, 28))),
    ("model.fit(x=x_train.reshape(-1, 784).astype('float32'), y=y_train)", Fed((784,))),
    ("model.fit(x_train.reshape(x_train.shape[0], 28, 28, 1), y_train)", Fed((28, 28, 1))),
    ("model.fit(x_train.reshape(len(x_train), -1), y_train)", Fed((784,))),
    ("model.evaluate(np.expand_dims(x_test, -1), y_test)", Fed((28, 28, 1))),
    ("model.predict(x_test[:5].astype('int64'))", Fed((28, 28), "long")),
    # names: what the array is at the time of the feed
    ("x = x_train.reshape(-1, 784)\nx = x / 255.0\nmodel.fit(x, y_train)", Fed((784,))),
    ("x = x_train\nx /= 255\nmodel.train_on_batch(x[:8], y_train[:8])", Fed((28, 28))),
    ("(a, b), (c, d) = (x_train[:10], y_train[:10]), (x_train[10:], y_train[10:])\n"
     "model.fit(a, b, validation_data=(c, d))", Fed((28, 28))),
    # several feeds that agree
    ("model.fit(x_train, y_train)\nmodel.predict(x_test)", Fed((28, 28))),
])
def test_each_form_gives_the_shape_the_model_is_fed(body: str, expected: Fed) -> None:
    src = ("import numpy as np\nimport tensorflow as tf\nimport keras\n"
           "from keras.datasets import mnist\n"
           "SIDE = 16\n(x_train, y_train), (x_test, y_test) = mnist.load_data()\n"
           "model = keras.Sequential([keras.layers.Dense(3)])\n" + body + "\n")
    assert _fed(src)["model"] == expected


@pytest.mark.parametrize("body", [
    "model.fit(load_features(), y_train)",  # data the script computes
    "model.fit(x_train, y_train)\nmodel.predict(np.zeros((1, 5)))",  # feeds that differ
    "model.fit(x_train, y_train)\nmodel.predict(other)",  # one feed unknown
    "model(np.zeros((1, n)))",  # a size that is no constant
    "model(np.zeros(shape))",
    "model.fit(x_train.reshape(-1, k), y_train)",
    "model.fit(x_train.reshape(x_train.shape[0], 100), y_train)",  # 784 values per sample
    "for k in range(3):\n    x_train = x_train[:, ::2]\nmodel.fit(x_train, y_train)",
    "if flag:\n    x_train = x_train.reshape(-1, 784)\nmodel.fit(x_train, y_train)",
    "model.fit(x_train[:, 3:], y_train)",  # a slice of a sample axis
    "model.fit([x_train, x_train], y_train)",  # several inputs
    "model.fit({'a': x_train}, y_train)",
    "x = np.expand_dims(x_train[:n], 0)\nmodel.fit(x, y_train)",  # an open batch moves
])
def test_shapes_not_fully_static_stay_unknown(body: str) -> None:
    src = ("import numpy as np\nimport keras\nfrom keras.datasets import mnist\n"
           "(x_train, y_train), (x_test, y_test) = mnist.load_data()\n"
           "model = keras.Sequential([keras.layers.Dense(3)])\n" + body + "\n")
    assert "model" not in _fed(src)


_PIPELINES = """
import tensorflow as tf
import keras
from keras import layers

(x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
aug = keras.Sequential([layers.Rescaling(1 / 255.0)])
head = keras.Sequential([layers.Flatten(), layers.Dense(10)])
batchwise = keras.Sequential([layers.Rescaling(2.0)])

def with_label(image, label):
    scaled = image / 2
    return aug(scaled), label

train = tf.data.Dataset.from_tensor_slices((x_train, y_train)).map(with_label).batch(16)
head.fit(train)
raw = tf.data.Dataset.from_tensor_slices(x_test).batch(4).map(lambda x: batchwise(x))
padded = keras.Sequential([layers.Dense(2)])
padded_ds = tf.data.Dataset.from_tensor_slices(x_test).padded_batch(4, [40, 40, 3])
padded_ds = padded_ds.map(lambda x: padded(x))
"""


def test_pipeline_maps_feed_elements_and_fit_reads_the_batches() -> None:
    """A ``.map`` before ``.batch`` hands the model one element (the converted call adds
    the batch axis), after ``.batch`` a batch; ``fit`` on a pipeline whose element the
    model's output made stays unknown."""
    fed = _fed(_PIPELINES)
    assert fed["aug"] == Fed((32, 32, 3)) and fed["batchwise"] == Fed((32, 32, 3))
    assert "head" not in fed
    assert "padded" not in fed  # padded_batch to other shapes


def test_a_sequence_batch_and_a_builders_model() -> None:
    fed = _fed("""
        import numpy as np
        import keras

        SIDE = 6

        class Batches(keras.utils.Sequence):
            def __init__(self, rows, batch_size=4, dim=(SIDE, SIDE), channels=2):
                self.rows = rows
                self.dim = dim
                self.channels = channels
                self.batch_size = batch_size

            def __len__(self):
                return 3

            def __getitem__(self, index):
                x, y = self.make(index)
                return x, y

            def make(self, index):
                x = np.empty((self.batch_size, *self.dim, self.channels))
                y = np.empty((self.batch_size, 1))
                for i in range(self.batch_size):
                    x[i,] = i
                return x, y

        class Rebinds(Batches):
            def __getitem__(self, index):
                self.dim = (index, index)
                return self.make(index)

        def build():
            model = keras.Sequential([keras.layers.Dense(2)])
            return model

        model = build()
        model.fit(Batches(rows=None, dim=(5, 3)))
        other = build()
        other.fit(Batches(None, 8))
        third = build()
        third.fit(Rebinds(None))
        sized = build_sized(4)
        sized.fit(Batches(None))
        """)
    assert fed["model"] == Fed((5, 3, 2)) and fed["other"] == Fed((6, 6, 2))
    assert "third" not in fed  # __getitem__ rebinds the size it reads
    # built with arguments: the class the checks build with its defaults may differ
    assert fed["sized"] == Fed((6, 6, 2)) and "build_sized()" not in fed
    assert "build()" not in fed  # its two models are fed differently


# ---------------------------------------------------------------- whole programs vs Keras

def _modules(module: Any) -> dict[str, pl.LightningModule]:
    return {name: obj() for name, obj in vars(module).items() if isinstance(obj, type)
            and issubclass(obj, pl.LightningModule) and obj is not pl.LightningModule}


def _stub_loader(monkeypatch: Any, name: str, x: np.ndarray, y: np.ndarray) -> None:
    loader = getattr(keras.datasets, name)
    monkeypatch.setattr(loader, "load_data", lambda *a, **k: ((x, y), (x, y)))


_FIT_ARRAYS = """
import keras
from keras import layers

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train.reshape(-1, 28 * 28).astype("float32") / 255.0

def build(width=16):
    return keras.Sequential([layers.Dense(width, activation="relu"), layers.Dense(10)])

model = build()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, epochs=1, batch_size=2, verbose=0)
"""


@pytest.mark.slow
def test_a_builders_sequential_fed_reshaped_loader_arrays_matches_keras(
        tmp_path: Path, monkeypatch: Any) -> None:
    res, module = convert_and_load(tmp_path, _FIT_ARRAYS)
    assert "nn.Linear(784, width)" in res.source, res.source  # sized, not lazy
    assert [c.rule for c in res.changes if "the script feeds it" in c.message] \
        == ["model.fed_input"]  # the report says where the shape came from
    (built,) = _modules(module).values()
    rng = np.random.default_rng(0)
    _stub_loader(monkeypatch, "mnist", rng.integers(0, 255, (4, 28, 28)).astype("uint8"),
                 rng.integers(0, 10, 4))
    original = exec_source(textwrap.dedent(_FIT_ARRAYS), "k2l_original")
    keras_model = original["model"]  # built by fit on the data the script feeds it
    assert tuple(built.example_input_array.shape[1:]) == tuple(keras_model.input_shape[1:])
    eq = compare(keras_model, built)
    assert eq.passed, eq.message


_SEQUENCE = """
import numpy as np
import keras
from keras import layers

HEIGHT, WIDTH = 10, 8

class Frames(keras.utils.Sequence):
    def __init__(self, count, batch_size=2, dim=(4, 4), channels=3):
        super().__init__()
        self.count = count
        self.batch_size = batch_size
        self.dim = dim
        self.channels = channels

    def __len__(self):
        return self.count // self.batch_size

    def __getitem__(self, index):
        x = np.full((self.batch_size, *self.dim, self.channels), index, "float32")
        y = np.zeros((self.batch_size, 1), "float32")
        return x, y

class Net(keras.Model):
    def __init__(self, filters=4):
        super().__init__()
        self.conv = layers.Conv2D(filters, 3, padding="same", activation="relu")
        self.pool = layers.MaxPooling2D()
        self.flat = layers.Flatten()
        self.out = layers.Dense(1)

    def call(self, x):
        x = self.conv(x)
        x = self.pool(x)
        return self.out(self.flat(x))

model = Net()
model.compile(optimizer="adam", loss="mse")
model.fit(Frames(4, dim=(HEIGHT, WIDTH)), epochs=1, verbose=0)
"""


@pytest.mark.slow
def test_a_subclassed_model_fed_a_sequence_matches_keras(tmp_path: Path) -> None:
    res, module = convert_and_load(tmp_path, _SEQUENCE)
    assert any("Net: example_input_array of the shape the script feeds it" in c.message
               for c in res.changes)
    built = _modules(module)["Net"]
    original = exec_source(textwrap.dedent(_SEQUENCE), "k2l_original")
    x, _ = original["Frames"](4, dim=(10, 8))[0]  # what fit hands the Keras model
    example = built.example_input_array
    assert tuple(example.shape[1:]) == x.shape[1:] and example.dtype == torch.float32
    eq = compare(original["model"], built)
    assert eq.passed, eq.message


_LITERAL_CALL = """
import numpy as np
import keras
from keras import layers

class Tagger(keras.Model):
    def __init__(self, vocab=120, dim=6):
        super().__init__()
        self.embed = layers.Embedding(vocab, dim)
        self.pool = layers.GlobalAveragePooling1D()
        self.out = layers.Dense(2)

    def call(self, ids):
        return self.out(self.pool(self.embed(ids)))

model = Tagger()
print(model(np.array([[1, 10, 100, 7]])))
"""


@pytest.mark.slow
def test_a_model_called_on_a_literal_gets_integer_ids_and_matches_keras(
        tmp_path: Path) -> None:
    _, module = convert_and_load(tmp_path, _LITERAL_CALL)
    built = _modules(module)["Tagger"]
    example = built.example_input_array
    assert example.dtype == torch.long and tuple(example.shape[1:]) == (4,)
    original = exec_source(textwrap.dedent(_LITERAL_CALL), "k2l_original")
    eq = compare(original["model"], built)
    assert eq.passed, eq.message


_MAPPED = """
import tensorflow as tf
import keras
from keras import layers

(x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
x_train, y_train = x_train[:50], y_train[:50]

prepare = keras.Sequential(
    [layers.Rescaling(1 / 255.0), layers.Resizing(20, 20), layers.CenterCrop(16, 16)],
    name="prepare",
)

def to_inputs(image, label):
    return prepare(image), label

train_ds = tf.data.Dataset.from_tensor_slices((x_train, y_train)).map(to_inputs).batch(8)
"""
_MAPPED_KERAS = _MAPPED.split("def to_inputs")[0].replace("import tensorflow as tf\n", "")


@pytest.mark.slow
def test_a_sequential_mapped_over_loader_elements_runs_on_their_shape(
        tmp_path: Path, monkeypatch: Any) -> None:
    """The Sequential sees one CIFAR image per call (the converted map adds the batch
    axis): its example is one image, and it computes Keras's output on a real element."""
    _, module = convert_and_load(tmp_path, _MAPPED)
    built = _modules(module)["Prepare"]
    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (3, 32, 32, 3)).astype("uint8")
    _stub_loader(monkeypatch, "cifar10", images, np.zeros((3, 1), "uint8"))
    original = exec_source(_MAPPED_KERAS, "k2l_original")
    element = original["x_train"][0]  # what from_tensor_slices hands the map function
    example = built.example_input_array
    assert tuple(example.shape) == (1, *element.shape)
    want = keras.ops.convert_to_numpy(original["prepare"](element[None].astype("float32")))
    built.eval()
    with torch.no_grad():
        got = built(torch.as_tensor(element[None].astype("float32"))).numpy()
        built(example)
    assert got.shape == want.shape and np.allclose(got, want, atol=1e-4)
