"""fit() given a Python list of arrays for a one-input model: each array is one tensor of the
dataset, never ``np.asarray([a, b])`` (a leading axis of the list's length, or an error when
the arrays' shapes differ)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import textwrap
from typing import Any

from agent.rules.convert import convert_source


def _convert(src: str) -> str:
    return convert_source(textwrap.dedent(src), "example.py").source


_ONE_ELEMENT = """\
    import numpy as np
    import keras
    from keras import layers

    x = np.zeros((12, 5), "float32")
    y = np.zeros((12, 1), "float32")
    model = keras.Sequential([keras.Input(shape=(5,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit([x], [y], batch_size=4, epochs=1, verbose=0)
    """


def test_a_one_element_list_is_its_array() -> None:
    out = _convert(_ONE_ELEMENT)
    assert "np.asarray([" not in out
    assert "torch.as_tensor(np.asarray(x), dtype=torch.float32)" in out
    assert "torch.as_tensor(np.asarray(y), dtype=torch.float32)" in out


def test_a_one_element_list_trains_over_its_samples() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(_convert(_ONE_ELEMENT), "example.py", "exec"), namespace)
    assert namespace["trainer"].global_step == 3  # 12 samples in batches of 4, not 1 sample


def test_a_custom_step_model_gets_each_array_of_its_list() -> None:
    out = _convert("""\
        import numpy as np
        import keras
        from keras import layers


        class Pair(keras.Model):
            def __init__(self):
                super().__init__()
                self.left = layers.Dense(1)
                self.right = layers.Dense(1)

            def call(self, inputs):
                a, b = inputs
                return self.left(a) + self.right(b)

            def train_step(self, data):
                a, b = data
                return {}


        first = np.zeros((12, 5), "float32")
        second = np.zeros((12, 3), "float32")
        pair = Pair()
        pair.compile(optimizer="sgd")
        pair.fit([first, second], batch_size=4, epochs=1)
        """)
    assert "np.asarray([" not in out
    flat = " ".join(out.split())
    assert "TensorDataset( torch.as_tensor(np.asarray(first), dtype=torch.float32), " \
        "torch.as_tensor(np.asarray(second), dtype=torch.float32), )" in flat


def test_literal_data_stays_one_array() -> None:
    out = _convert("""\
        import keras
        from keras import layers

        model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit([[0.0, 1.0], [1.0, 0.0]], [1.0, 0.0], epochs=1)
        """)
    assert "np.asarray([[0.0, 1.0], [1.0, 0.0]])" in out and "np.asarray([1.0, 0.0])" in out
