"""The generated class's constructor as a reviewer expects it (issue 10; signature.py).

Each case converts a small Keras program whose model needs values the script computes,
loads the output's definitions without its script code (as the checks do: a
definitions-only import must not fail on a name only the script binds), and builds the
class from what the converted call passes, or from nothing where every call passes a
constant, running forward on its example input.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

os.environ["KERAS_BACKEND"] = "torch"

import numpy as np
import pytorch_lightning as pl
import torch

from tests.definitions import convert_and_load


def _convert(tmp_path: Path, src: str, name: str = "case.py") -> tuple[Any, Any]:
    return convert_and_load(tmp_path, src, name)


def _class(module: Any) -> type[pl.LightningModule]:
    (cls,) = [obj for obj in vars(module).values() if isinstance(obj, type)
              and issubclass(obj, pl.LightningModule) and obj is not pl.LightningModule
              and obj.__module__ == module.__name__]
    return cls


def _signature(code: str, cls: str) -> str:
    return code.split(f"class {cls}(")[1].split("def __init__(self")[1].split(") -> None:")[0]


def _run(model: pl.LightningModule) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        out = model(model.example_input_array)
    assert isinstance(out, torch.Tensor)
    return out


def _changes(res: Any, rule: str) -> list[str]:
    return [c.message for c in res.changes if c.rule == rule]


_SIZES = """\
    import numpy as np
    from tensorflow import keras

    table = np.load("table.npy")
    train_features = table[:-20]
    alphabet = sorted(set(open("corpus.txt").read()))

    model = keras.Sequential([
        keras.layers.Dense(16, activation="relu", input_shape=(train_features.shape[-1],)),
        keras.layers.Dense(len(alphabet), activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    model.fit(train_features, np.zeros((len(train_features), len(alphabet))), epochs=1)
    """


def test_an_array_read_only_for_a_size_is_passed_as_that_size(tmp_path: Path) -> None:
    """``input_shape=(train_features.shape[-1],)`` and ``Dense(len(alphabet))``: the class
    takes the two sizes as ints (not the training set, not the alphabet), the call passes
    them, and the report says so."""
    res, module = _convert(tmp_path, _SIZES)
    code = res.source
    cls = _class(module)
    assert _signature(code, cls.__name__) == ", alphabet_size: int, num_features: int"
    assert "alphabet_size=len(alphabet), num_features=train_features.shape[-1])" in code
    body = code.split(f"class {cls.__name__}(")[1].split("\n\n\n")[0]
    assert "train_features" not in body and "alphabet)" not in body
    assert len(_changes(res, "model.size_param")) == 2
    model = cls(alphabet_size=7, num_features=5)
    assert dict(model.hparams) == {"alphabet_size": 7, "num_features": 5}
    assert tuple(model.example_input_array.shape) == (1, 5)
    assert tuple(_run(model).shape) == (1, 7)


_GLOBALS = """\
    import numpy as np
    import pandas as pd
    from tensorflow import keras
    from tensorflow.keras import layers

    frame = pd.read_csv("rows.csv")
    n_labels = len(frame["label"].unique())
    width = frame.shape[1] - 1
    CODES = {name: sorted(frame[name].unique()) for name in ["a", "b"]}


    def make_net():
        inputs = keras.Input(shape=(width,))
        x = layers.Dense(16, activation="relu")(inputs)
        x = layers.Dense(len(CODES["a"]), activation="relu")(x)
        outputs = layers.Dense(n_labels, activation="softmax")(x)
        return keras.Model(inputs, outputs)


    net = make_net()
    net.compile(loss="categorical_crossentropy", optimizer="adam")
    """


def test_values_the_script_computes_become_parameters_the_builder_passes(
        tmp_path: Path) -> None:
    """A builder reading module-level values the script computes from data: the class takes
    them (a definitions-only import has no ``n_labels``; a reviewer sees what the model
    needs), the builder passes the globals it read, a global in capitals becomes a lowercase
    parameter, and no default is invented for any of them."""
    res, module = _convert(tmp_path, _GLOBALS)
    code = res.source
    cls = _class(module)
    assert _signature(code, cls.__name__) == ", codes, n_labels: int, width: int"
    assert f"return {cls.__name__}(codes=CODES, n_labels=n_labels, width=width)" in code
    assert 'nn.Linear(16, len(codes["a"]))' in code
    assert len(_changes(res, "model.script_param")) == 3
    model = cls(codes={"a": ["x", "y", "z"], "b": []}, n_labels=4, width=6)
    assert tuple(_run(model).shape) == (1, 4)


_CONSTANTS = """\
    import numpy as np
    from tensorflow import keras
    from tensorflow.keras import layers


    def build(num_classes, steps: int, hidden=8):
        inputs = keras.Input(shape=(steps, 3))
        x = layers.Conv1D(hidden, 3, padding="same", activation="relu")(inputs)
        x = layers.GlobalMaxPooling1D()(x)
        outputs = layers.Dense(num_classes, activation="softmax")(x)
        return keras.Model(inputs, outputs)


    if __name__ == "__main__":
        num_classes = 5
        points = np.load("points.npy")
        model = build(num_classes, points.shape[1])
        model.compile(loss="categorical_crossentropy", optimizer="adam")
    """


def test_a_constant_every_call_passes_is_the_default(tmp_path: Path) -> None:
    """``num_classes = 5`` under ``if __name__ == "__main__":``, passed by the only call:
    the class defaults to it (reported); ``steps`` comes from data, so it stays required,
    with the builder's own annotation."""
    res, module = _convert(tmp_path, _CONSTANTS)
    code = res.source
    cls = _class(module)
    assert _signature(code, cls.__name__) == ", num_classes: int = 5, *, steps: int, hidden: int = 8"
    assert any("num_classes=5 by default" in c for c in _changes(res, "model.call_default"))
    model = cls(steps=10)
    assert tuple(model.example_input_array.shape) == (1, 10, 3)
    assert tuple(_run(model).shape) == (1, 5)


def test_a_rebound_constant_is_no_default(tmp_path: Path) -> None:
    """The same name bound again later in the script: the value varies, no default."""
    src = _CONSTANTS.replace('    model.compile(', '    num_classes = 6\n    model.compile(')
    res, module = _convert(tmp_path, src)
    assert _signature(res.source, _class(module).__name__).startswith(", num_classes: int, ")
    assert not any("num_classes" in c for c in _changes(res, "model.call_default"))


_FORWARD_READ = """\
    import numpy as np
    from tensorflow import keras
    from tensorflow.keras import layers

    data = np.load("rows.npy")
    repeats = data.shape[1]

    inputs = keras.Input(shape=(4,))
    x = layers.RepeatVector(repeats)(inputs)
    x = layers.LSTM(6)(x)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(loss="mse", optimizer="adam")
    """


def test_a_parameter_read_in_forward_keeps_its_name(tmp_path: Path) -> None:
    """A value ``forward`` reads (a repeat count) is not a module size: no type is guessed
    from it and its name stays the script's."""
    res, module = _convert(tmp_path, _FORWARD_READ)
    cls = _class(module)
    assert _signature(res.source, cls.__name__) == ", repeats"
    assert tuple(_run(cls(repeats=3)).shape) == (1, 1)


_GRU = """\
    from tensorflow import keras
    from tensorflow.keras import layers

    model = keras.Sequential([keras.Input(shape=(5, 4)), layers.GRU(3), layers.Dense(1)])
    """


def test_recurrent_biases_at_zero_take_one_branch(tmp_path: Path) -> None:
    """Keras's zero biases: one ``else`` for both, no ``bias_ih`` branch repeating it."""
    res, module = _convert(tmp_path, _GRU)
    assert 'startswith("bias_ih")' not in res.source
    model = _class(module)()
    gru = next(m for m in model.modules() if isinstance(m, torch.nn.GRU))
    assert float(gru.bias_ih_l0.detach().abs().sum()) == 0.0 and float(gru.bias_hh_l0.detach().abs().sum()) == 0.0
    assert float(gru.weight_ih_l0.detach().abs().sum()) > 0.0
    weight = gru.weight_hh_l0.detach().numpy()
    assert np.allclose(weight.T @ weight,
                       np.eye(3), atol=1e-5)  # orthogonal columns, as Keras initializes it


_TOKENS = """\
    import keras
    from keras import layers

    VOCAB = 40

    def build_model():
        model = keras.Sequential([
            layers.Embedding(VOCAB, 6),
            layers.Dropout(0.1),
            layers.LSTM(5),
            layers.Dense(2, activation="softmax"),
        ])
        return model

    def build_augment():
        return keras.Sequential([layers.Rescaling(1 / 255.0), layers.RandomFlip("horizontal")])
    """


def test_an_embedding_read_as_a_sequence_takes_token_ids(tmp_path: Path) -> None:
    """No input shape anywhere, an Embedding first and an LSTM reading its output: the input
    is token ids of an open length (8 steps in the example), and the class runs on them as
    Keras does; an augmentation model without a shape gets no example, and the report says
    why instead of guessing a rank."""
    res, module = _convert(tmp_path, _TOKENS)
    classes = {obj.__name__: obj for obj in vars(module).values() if isinstance(obj, type)
               and issubclass(obj, pl.LightningModule) and obj.__module__ == module.__name__}
    text = next(cls for name, cls in classes.items() if "Augment" not in name)()
    x = text.example_input_array
    assert x.dtype == torch.long and tuple(x.shape) == (1, 8)
    import keras

    namespace: dict[str, Any] = {}
    exec(compile(textwrap.dedent(_TOKENS), "original.py", "exec"), namespace)
    keras_out = namespace["build_model"]()(np.zeros((1, 8), "int32"))
    assert tuple(_run(text).shape) == tuple(keras.ops.shape(keras_out))
    augment = next(cls for name, cls in classes.items() if "Augment" in name)()
    assert getattr(augment, "example_input_array", None) is None
    (note,) = _changes(res, "model.example_input")
    assert "Augment" in note and "no input shape" in note


_KINDS = """\
    import numpy as np
    from tensorflow import keras
    from tensorflow.keras import layers


    def build(width, rate, k):
        inputs = keras.Input(shape=(20, 3))
        x = layers.ZeroPadding1D(padding=(k // 2, k // 2))(inputs)
        x = layers.Conv1D(width, kernel_size=k, activation="relu")(x)
        x = layers.GlobalMaxPooling1D()(x)
        x = layers.Dropout(rate)(x)
        return keras.Model(inputs, layers.Dense(1)(x))


    settings = np.load("settings.npy")
    model = build(int(settings[0]), float(settings[1]), int(settings[2]))
    """


def test_parameters_typed_by_what_torch_takes_them_as(tmp_path: Path) -> None:
    """Sizes (a width, a kernel size also halved into a padding tuple) are ints, a dropout
    rate a float; values from data, so no defaults."""
    res, module = _convert(tmp_path, _KINDS)
    cls = _class(module)
    assert _signature(res.source, cls.__name__) == ", width: int, rate: float, k: int"
    assert tuple(_run(cls(width=4, rate=0.5, k=3)).shape) == (1, 1)


_TWICE = """\
    import numpy as np
    from tensorflow import keras
    from tensorflow.keras import layers

    STEPS = 12
    WIDTH = 16
    print("steps", STEPS)
    STEPS = 12


    def make(width=WIDTH):
        inputs = keras.Input(shape=(4,))
        return keras.Model(inputs, layers.Dense(width)(inputs))


    inputs = layers.Input((STEPS, 3))
    outputs = layers.Dense(2)(layers.GlobalAveragePooling1D()(inputs))
    model = keras.Model(inputs, outputs)
    other = make()
    """


def test_values_the_rules_know_stay_out_of_the_signature(tmp_path: Path) -> None:
    """A constant bound twice to the same literal is still known where the model is built:
    the class writes the value, takes no parameter for it; a builder default naming a
    constant is typed by the constant's value."""
    res, module = _convert(tmp_path, _TWICE)
    classes = [obj for obj in vars(module).values() if isinstance(obj, type)
               and issubclass(obj, pl.LightningModule) and obj.__module__ == module.__name__]
    signatures = sorted(_signature(res.source, cls.__name__) for cls in classes)
    assert signatures == ["", ", width: int = WIDTH"], signatures
    for cls in classes:
        _run(cls())
