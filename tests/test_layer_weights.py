"""Keras-layout ``get_weights``/``set_weights`` on torch modules (runtime/layer_weights.py),
checked against Keras 3 (torch backend): arrays a Keras layer takes give the torch module the
same outputs, and what the torch module returns, given to the Keras layer, does too."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest
import torch
from torch import nn

from agent.rules.training.runtime.layer_weights import (
    layer_named,
    layer_weights,
    set_layer_weights,
)

RNG = np.random.default_rng(5)


def _channels_first(conv: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """A Keras channels-last input through a torch convolution, back to channels last."""
    def run(x: torch.Tensor) -> torch.Tensor:
        n = x.ndim
        y = conv(x.permute(0, n - 1, *range(1, n - 1)))
        return y.permute(0, *range(2, n), 1)

    return run


def _first(m: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: m(x)[0]


# (id, Keras layer, torch module, input shape, torch forward of a Keras-shaped input)
def _cases() -> list[tuple[str, Any, nn.Module, tuple[int, ...], Any]]:
    out: list[tuple[str, Any, nn.Module, tuple[int, ...], Any]] = []
    m: nn.Module = nn.Linear(6, 4)
    out.append(("dense", keras.layers.Dense(4), m, (3, 6), m))
    m = nn.Conv1d(3, 5, 3)
    out.append(("conv1d", keras.layers.Conv1D(5, 3), m, (2, 9, 3), _channels_first(m)))
    m = nn.Conv2d(3, 4, (3, 2))
    out.append(("conv2d", keras.layers.Conv2D(4, (3, 2)), m, (2, 7, 6, 3), _channels_first(m)))
    m = nn.Conv3d(2, 3, 2, bias=False)
    out.append(("conv3d", keras.layers.Conv3D(3, 2, use_bias=False), m, (1, 4, 5, 4, 2),
                _channels_first(m)))
    m = nn.ConvTranspose2d(3, 5, 3, stride=2)
    out.append(("conv2d_transpose", keras.layers.Conv2DTranspose(5, 3, strides=2), m,
                (2, 4, 4, 3), _channels_first(m)))
    m = nn.Conv2d(3, 6, 3, groups=3)
    out.append(("depthwise", keras.layers.DepthwiseConv2D(3, depth_multiplier=2), m,
                (2, 6, 6, 3), _channels_first(m)))
    m = nn.BatchNorm1d(5, eps=1e-3).eval()
    out.append(("batch_norm", keras.layers.BatchNormalization(), m, (4, 5), m))
    m = nn.LayerNorm(5, eps=1e-3)
    out.append(("layer_norm", keras.layers.LayerNormalization(), m, (4, 5), m))
    m = nn.LSTM(3, 4, batch_first=True)
    out.append(("lstm", keras.layers.LSTM(4, return_sequences=True), m, (2, 5, 3), _first(m)))
    m = nn.GRU(3, 4, batch_first=True)
    out.append(("gru", keras.layers.GRU(4, return_sequences=True), m, (2, 5, 3), _first(m)))
    m = nn.RNN(3, 4, batch_first=True)
    out.append(("simple_rnn", keras.layers.SimpleRNN(4, return_sequences=True), m, (2, 5, 3),
                _first(m)))
    m = nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    out.append(("bidirectional", keras.layers.Bidirectional(
        keras.layers.LSTM(4, return_sequences=True)), m, (2, 5, 3), _first(m)))
    return out


IDS = [c[0] for c in _cases()]


def _keras_out(layer: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(layer(x, training=False)))


def _torch_out(run: Any, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return run(torch.as_tensor(x)).numpy()


@pytest.mark.parametrize("index", range(len(IDS)), ids=IDS)
def test_keras_arrays_set_into_torch(index: int) -> None:
    """Random arrays in Keras's layout: Keras's set_weights and ours give the same outputs,
    and our get_weights gives the arrays back, shapes and order as Keras lists them."""
    kind, layer, module, shape, run = _cases()[index]
    x = RNG.standard_normal(shape).astype("float32")
    layer.build(shape)
    arrays = [RNG.standard_normal(w.shape).astype("float32") for w in layer.get_weights()]
    if kind == "batch_norm":
        arrays[-1] = np.abs(arrays[-1]) + 0.5  # a variance
    layer.set_weights(arrays)
    set_layer_weights(module, arrays)
    np.testing.assert_allclose(_torch_out(run, x), _keras_out(layer, x), rtol=1e-5, atol=1e-5)
    back = layer_weights(module)
    assert [a.shape for a in back] == [w.shape for w in layer.get_weights()]
    for got, want in zip(back, layer.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("index", range(len(IDS)), ids=IDS)
def test_torch_weights_read_in_keras_layout(index: int) -> None:
    """The torch module's own (torch-initialised) weights, read in Keras's layout and given
    to the Keras layer, compute what the torch module computes."""
    _, layer, module, shape, run = _cases()[index]
    x = RNG.standard_normal(shape).astype("float32")
    layer.build(shape)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # no zero biases: every block must land
    layer.set_weights(layer_weights(module))
    np.testing.assert_allclose(_keras_out(layer, x), _torch_out(run, x), rtol=1e-5, atol=1e-5)


def test_gru_reset_after_bias_is_two_rows() -> None:
    """Keras's reset_after GRU bias is (2, 3 units): input row, recurrent row."""
    assert [a.shape for a in layer_weights(nn.GRU(3, 4, batch_first=True))] == [
        (3, 12), (4, 12), (2, 12)]


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3)
        self.norm = nn.BatchNorm2d(2)
        self.conv2_deeper = nn.Conv2d(2, 2, 1)
        self.fc = nn.Linear(8, 3)


def test_model_level_order_and_named_layers() -> None:
    """``model.get_weights()``: every layer's weights in turn (Keras 3's order); set_weights
    writes the same list back; ``get_layer`` finds a module by the Keras name it came from."""
    net = _Net()
    shapes = [a.shape for a in layer_weights(net)]
    assert shapes == [(3, 3, 1, 2), (2,), (2,), (2,), (2,), (2,), (1, 1, 2, 2), (2,), (8, 3),
                      (3,)]
    new = [RNG.standard_normal(s).astype("float32") for s in shapes]
    set_layer_weights(net, new)
    for got, want in zip(layer_weights(net), new, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert layer_named(net, "conv2-deeper") is net.conv2_deeper
    with pytest.raises(ValueError, match="No such layer: conv9"):
        layer_named(net, "conv9")
    with pytest.raises(ValueError, match="1 arrays given, the layer has 2 weights"):
        set_layer_weights(net.fc, [new[-2]])


def test_wrong_shape_is_refused_as_keras_does() -> None:
    m = nn.Linear(4, 3)
    with pytest.raises(ValueError, match="does not fit"):
        set_layer_weights(m, [np.zeros((3, 4)), np.zeros(3)])  # torch's layout, not Keras's


def test_one_weight_by_its_keras_name() -> None:
    from agent.rules.training.runtime.layer_weights import layer_weight

    lstm = nn.LSTM(3, 5, batch_first=True)
    assert layer_weight(lstm, "recurrent_kernel").shape == (5, 20)
    np.testing.assert_allclose(layer_weight(lstm, "kernel"), layer_weights(lstm)[0])
    with pytest.raises(AttributeError, match="no Keras weight 'gamma'"):
        layer_weight(lstm, "gamma")
