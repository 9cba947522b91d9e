"""ConvLSTM2D (runtime ConvLSTM2d copied into the script) and ActivityRegularization.

Our own small programs; each converted model is compared with Keras 3 (torch backend) after
porting Keras's weights: outputs for ConvLSTM2D, the training loss (with Keras's activity
penalty divided by the batch size) for ActivityRegularization.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import textwrap

import numpy as np
import pytest
import torch

from agent.equivalence import check_sources
from agent.rules.convert import convert_source
from agent.rules.training.runtime.conv_lstm import ConvLSTM2d
from tests.test_activity_regularizers import _build

keras = pytest.importorskip("keras")

SEQUENTIAL = textwrap.dedent("""\
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input(shape=(4, 8, 8, 1)),
        layers.ConvLSTM2D(6, (3, 3), padding="same", return_sequences=True),
        layers.BatchNormalization(),
        layers.ConvLSTM2D(3, 3, strides=2, padding="same", go_backwards=True),
        layers.Flatten(),
        layers.Dense(2),
    ])
    """)


def test_sequential_conv_lstm_stack_matches_keras() -> None:
    res = convert_source(SEQUENTIAL)
    assert not res.unmapped, [u.reason for u in res.unmapped]
    assert res.source.count("class ConvLSTM2d(LazyModuleMixin, nn.Module):") == 1  # copied once
    assert "import keras" not in res.source
    eq = check_sources(SEQUENTIAL, res.source)
    assert eq.passed, eq.message


def test_return_state_gives_keras_h_and_c() -> None:
    src = textwrap.dedent("""\
        import keras
        from keras import layers

        inp = keras.Input(shape=(3, 6, 5, 2))
        seq, h, c = layers.ConvLSTM2D(4, 2, return_state=True, return_sequences=True,
                                      activation="relu")(inp)
        out = layers.Concatenate()([layers.Flatten()(h), layers.Flatten()(c),
                                    layers.Flatten()(seq)])
        model = keras.Model(inp, out)
        """)
    res = convert_source(src)
    assert not res.unmapped, [u.reason for u in res.unmapped]
    eq = check_sources(src, res.source)
    assert eq.passed, eq.message


def test_conv_lstm_in_a_custom_layer_sizes_on_first_batch_and_ports() -> None:
    """A subclass's sub-layer has no known input size: ConvLSTM2d(None, ...) reads it."""
    src = textwrap.dedent("""\
        import keras
        from keras import layers


        class Encoder(keras.layers.Layer):
            def __init__(self):
                super().__init__()
                self.rnn = layers.ConvLSTM2D(3, 3, padding="same")
                self.pool = layers.GlobalAveragePooling2D()

            def call(self, x):
                return self.pool(self.rnn(x))


        inp = keras.Input(shape=(3, 5, 5, 2))
        model = keras.Model(inp, layers.Dense(2)(Encoder()(inp)))
        """)
    res = convert_source(src)
    assert "ConvLSTM2d(None, 3, (3, 3)" in res.source, res.source
    assert not res.unmapped, [u.reason for u in res.unmapped]
    eq = check_sources(src, res.source)
    assert eq.passed, eq.message


@pytest.mark.parametrize(("arg", "why"), [("dropout=0.2", "dropout"),
                                          ("stateful=True", "stateful"),
                                          ('data_format="channels_first"', "channels_first")])
def test_forms_the_cell_lacks_are_reported(arg: str, why: str) -> None:
    res = convert_source("import keras\nfrom keras import layers\n\n"
                         "inp = keras.Input(shape=(3, 6, 6, 2))\n"
                         f"model = keras.Model(inp, layers.ConvLSTM2D(2, 3, {arg})(inp))\n")
    assert res.error == ""
    assert any(why in u.reason for u in res.unmapped), [u.reason for u in res.unmapped]


def test_keras_default_initialization() -> None:
    """Forget-gate bias 1, other biases 0, orthogonal recurrent kernel (as a matrix)."""
    torch.manual_seed(0)
    m = ConvLSTM2d(2, 3, (1, 1))
    assert m.bias is not None
    assert torch.equal(m.bias, torch.tensor([0.0] * 3 + [1.0] * 3 + [0.0] * 6))
    flat = m.weight_hh.flatten(1)  # (4 * filters, filters): orthonormal columns
    torch.testing.assert_close(flat.T @ flat, torch.eye(3), atol=1e-5, rtol=0)


def _same_loss(kmodel: object, tmodel: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> None:
    expected = float(kmodel.compute_loss(x=x, y=y, y_pred=kmodel(x)).detach().cpu())  # type: ignore[attr-defined]
    plain = float(keras.losses.mean_squared_error(y, kmodel(x)).detach().cpu().mean())  # type: ignore[operator]
    assert expected - plain > 1e-3  # the layer really adds a penalty
    tmodel.eval()
    got = float(tmodel.training_step([torch.as_tensor(x), torch.as_tensor(y)], 0).detach())  # type: ignore[operator]
    assert abs(got - expected) <= 1e-5 * max(1.0, abs(expected)), (got, expected)


@pytest.mark.parametrize("layer", ["layers.ActivityRegularization(l1=0.05)",
                                   "layers.ActivityRegularization(0.01, l2=0.03)"])
def test_activity_regularization_layer_adds_keras_penalty(layer: str) -> None:
    src = textwrap.dedent(f"""\
        import keras
        from keras import layers

        model = keras.Sequential([keras.Input(shape=(5,)), layers.Dense(4, activation="tanh"),
                                  {layer}, layers.Dense(2)])
        model.compile(optimizer="adam", loss="mse")
        """)
    kmodel, tmodel, code = _build(src)
    assert "nn.Identity()" in code and "register_forward_hook" in code
    rng = np.random.default_rng(1)
    _same_loss(kmodel, tmodel, rng.normal(size=(8, 5)).astype("float32"),
               rng.normal(size=(8, 2)).astype("float32"))


def test_activity_regularization_in_functional_model_with_parameter() -> None:
    src = textwrap.dedent("""\
        import keras
        from keras import layers


        def build(weight=0.02):
            inp = keras.Input(shape=(4,))
            h = layers.Dense(6, activation="relu")(inp)
            h = layers.ActivityRegularization(l2=weight)(h)
            model = keras.Model(inp, layers.Dense(3)(h))
            model.compile(optimizer="adam", loss="mse")
            return model


        model = build()
        """)
    kmodel, tmodel, _ = _build(src)
    rng = np.random.default_rng(2)
    _same_loss(kmodel, tmodel, rng.normal(size=(8, 4)).astype("float32"),
               rng.normal(size=(8, 3)).astype("float32"))


def test_activity_regularization_as_a_subclass_sublayer() -> None:
    src = textwrap.dedent("""\
        import keras
        from keras import layers


        class Block(keras.layers.Layer):
            def __init__(self):
                super().__init__()
                self.d = layers.Dense(6, activation="relu")
                self.reg = layers.ActivityRegularization(l1=0.05)

            def call(self, x):
                return self.reg(self.d(x))


        inp = keras.Input(shape=(4,))
        model = keras.Model(inp, layers.Dense(2)(Block()(inp)))
        model.compile(optimizer="adam", loss="mse")
        """)
    kmodel, tmodel, code = _build(src)
    assert "class Block(nn.Module)" in code
    rng = np.random.default_rng(4)
    _same_loss(kmodel, tmodel, rng.normal(size=(8, 4)).astype("float32"),
               rng.normal(size=(8, 2)).astype("float32"))
