"""Keras's LSTM/GRU ``recurrent_dropout``: GateDropoutLSTM/GRU (runtime/recurrent_dropout.py).

Inference is torch's fused kernel (compared with Keras through the converter); training runs
Keras's masked step loop, compared with Keras's own cell under the same masks."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch

from agent.rules.training.runtime import recurrent_dropout
from agent.rules.training.runtime.recurrent_dropout import (
    GateDropoutGRU,
    GateDropoutLSTM,
    LazyGateDropoutGRU,
)
from tests.test_lazy_sizes import KERAS, convert, equivalent

DROPPED = KERAS + """
rate = 0.3
model = keras.Sequential([
    keras.Input(shape=(6, 3)),
    layers.LSTM(4, dropout=0.1, recurrent_dropout=0.2, return_sequences=True),
    layers.GRU(5, recurrent_dropout=rate),
    layers.Dense(2),
])
"""

IN_A_LAYER = KERAS + """
class Encode(layers.Layer):
    def __init__(self, units, rate, **kwargs):
        super().__init__(**kwargs)
        self.gru = layers.GRU(units, dropout=rate, recurrent_dropout=rate)

    def call(self, inputs):
        return self.gru(keras.ops.reshape(inputs, (-1, 3, 4)))


inputs = keras.Input(shape=(12,))
model = keras.Model(inputs, Encode(5, 0.25)(inputs))
"""


def test_recurrent_dropout_gets_the_masked_cells() -> None:
    result = convert(DROPPED)
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "GateDropoutLSTM(3, 4, dropout=0.1, recurrent_dropout=0.2)" in result.source
    assert "GateDropoutGRU(4, 5, recurrent_dropout=rate)" in result.source
    assert "dropout1d" not in result.source  # the module draws Keras's per-gate masks


def test_recurrent_dropout_inference_is_numerically_keras() -> None:
    equivalent(DROPPED)


def test_recurrent_dropout_in_a_custom_layer_is_lazy_and_keras_at_inference() -> None:
    result = convert(IN_A_LAYER)
    assert "LazyGateDropoutGRU(units, dropout=rate, recurrent_dropout=rate)" in result.source
    equivalent(IN_A_LAYER)


def test_other_activations_with_recurrent_dropout_are_still_reported() -> None:
    result = convert(KERAS + """
model = keras.Sequential([keras.Input(shape=(6, 3)),
                          layers.LSTM(4, activation="relu", recurrent_dropout=0.2)])
""")
    assert any("recurrent_dropout" in u.reason for u in result.unmapped)


def _keras_masks(layer: keras.layers.Layer, count: int, batch: int, features: int,
                 units: int, rng: np.random.Generator) -> tuple[list[np.ndarray], ...]:
    """Dropout masks (kept / (1 - rate)) set on Keras's cell, so its next call uses them."""
    def masks(size: int, rate: float) -> list[np.ndarray]:
        return [(rng.random((batch, size)) >= rate).astype("float32") / (1 - rate)
                for _ in range(count)]
    inputs, state = masks(features, 0.3), masks(units, 0.4)
    layer.cell._dropout_mask = [keras.ops.convert_to_tensor(m) for m in inputs]
    layer.cell._recurrent_dropout_mask = [keras.ops.convert_to_tensor(m) for m in state]
    return inputs, state


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_training_step_loop_is_keras_under_the_same_masks(
        kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    batch, steps, features, units = 3, 5, 4, 6
    x = rng.normal(size=(batch, steps, features)).astype("float32")
    layer = getattr(keras.layers, kind)(units, dropout=0.3, recurrent_dropout=0.4,
                                        return_sequences=True)
    layer.build((batch, steps, features))
    for w in layer.weights:
        w.assign(rng.normal(0.0, 0.5, size=tuple(w.shape)).astype("float32"))
    count = 4 if kind == "LSTM" else 3
    in_masks, rec_masks = _keras_masks(layer, count, batch, features, units, rng)
    expected = keras.ops.convert_to_numpy(layer(x, training=True))

    kernel, recurrent, bias = (keras.ops.convert_to_numpy(w) for w in layer.weights)
    module: torch.nn.Module
    if kind == "LSTM":
        module = GateDropoutLSTM(features, units, dropout=0.3, recurrent_dropout=0.4)
        order = [0, 1, 2, 3]
        b_ih, b_hh = bias, np.zeros_like(bias)
    else:  # Keras z, r, h -> torch r, z, n
        module = GateDropoutGRU(features, units, dropout=0.3, recurrent_dropout=0.4)
        order = [1, 0, 2]
        b_ih, b_hh = bias[0], bias[1]

    def gates(a: np.ndarray) -> torch.Tensor:
        parts = np.split(a, count, axis=-1)
        return torch.as_tensor(np.concatenate([parts[k] for k in order], axis=-1))

    with torch.no_grad():
        module.weight_ih_l0.copy_(gates(kernel).T)
        module.weight_hh_l0.copy_(gates(recurrent).T)
        module.bias_ih_l0.copy_(gates(b_ih))
        module.bias_hh_l0.copy_(gates(b_hh))
    draws = iter([in_masks, rec_masks])

    def same_masks(like: torch.Tensor, n: int, rate: float) -> torch.Tensor:
        masks = next(draws)
        return torch.as_tensor(np.stack([masks[k] for k in order]))

    monkeypatch.setattr(recurrent_dropout, "_gate_masks", same_masks)
    module.train()
    got = module(torch.as_tensor(x))[0]
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_masks_are_drawn_in_training_only() -> None:
    torch.manual_seed(0)
    gru = GateDropoutGRU(3, 4, recurrent_dropout=0.5)
    x = torch.randn(2, 6, 3)
    fused = torch.nn.GRU(3, 4, batch_first=True)
    fused.load_state_dict(gru.state_dict())
    gru.eval()
    torch.testing.assert_close(gru(x)[0], fused(x)[0])
    gru.train()
    assert not torch.allclose(gru(x)[0], fused(x)[0])  # masks drawn
    zero = GateDropoutGRU(3, 4)  # rates 0 (a variable that was 0): torch's kernel
    zero.load_state_dict(gru.state_dict())
    torch.testing.assert_close(zero(x)[0], fused(x)[0])


def test_lazy_form_becomes_the_masked_cell() -> None:
    m = LazyGateDropoutGRU(4, recurrent_dropout=0.2)
    m(torch.randn(2, 5, 3))
    assert type(m) is GateDropoutGRU and m.weight_ih_l0.shape == (12, 3)


BIDIRECTIONAL = KERAS + """
model = keras.Sequential([
    keras.Input(shape=(6, 3)),
    layers.Bidirectional(layers.LSTM(4, return_sequences=True, dropout=0.25)),
    layers.Bidirectional(layers.GRU(3, dropout=0.1)),
    layers.Dense(2),
])
"""


def test_bidirectional_with_dropout_converts_and_is_keras_at_inference() -> None:
    result = convert(BIDIRECTIONAL)
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "bidirectional_input_dropout(self.bidirectional, x, 0.25, self.training)" \
        in result.source
    equivalent(BIDIRECTIONAL)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_bidirectional_directions_read_their_own_masks(
        kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keras's two direction layers each draw a mask: the forward outputs and state are the
    module's on the first masked input, the backward ones on the second."""
    torch.manual_seed(0)
    rnn = getattr(torch.nn, kind)(3, 4, batch_first=True, bidirectional=True)
    x = torch.randn(2, 5, 3)
    masks = (torch.rand(2, 3, 1) > 0.5).float() * 2, (torch.rand(2, 3, 1) > 0.5).float() * 2

    def known(doubled: torch.Tensor, p: float, training: bool) -> torch.Tensor:
        return doubled * torch.cat(masks)

    monkeypatch.setattr(recurrent_dropout.F, "dropout1d", known)
    out, state = recurrent_dropout.bidirectional_input_dropout(rnn, x, 0.5, True)
    first, first_state = rnn(x * masks[0].transpose(1, 2))
    second, second_state = rnn(x * masks[1].transpose(1, 2))
    torch.testing.assert_close(out, torch.cat([first[..., :4], second[..., 4:]], dim=-1))
    h, h1, h2 = (s[0] if kind == "LSTM" else s for s in (state, first_state, second_state))
    torch.testing.assert_close(h, torch.stack([h1[0], h2[1]]))
    torch.testing.assert_close(recurrent_dropout.bidirectional_input_dropout(rnn, x, 0.5, False),
                               rnn(x))  # no masks outside training
