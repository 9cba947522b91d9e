"""The layer table: canonical Keras name → :class:`LayerSpec`, assembled from the families."""

from __future__ import annotations

from agent.rules.layers import (
    activation_layers,
    attention,
    cells,
    conv,
    conv_recurrent,
    core,
    encoding,
    kernelized,
    merge,
    norm,
    pooling,
    preprocessing,
    recurrent,
    regularization,
    reshaping,
    separable,
)
from agent.rules.spec import LayerSpec

_FAMILIES = (core, conv, pooling, norm, recurrent, merge, activation_layers, reshaping,
             separable, attention, preprocessing, kernelized, cells, encoding,
             conv_recurrent, regularization)


def _load() -> dict[str, LayerSpec]:
    table: dict[str, LayerSpec] = {}
    for family in _FAMILIES:
        for spec in family.SPECS:
            key = f"keras.layers.{spec.keras}"
            if key in table:
                raise ValueError(f"duplicate layer spec {key}")
            table[key] = spec
    return table


LAYERS: dict[str, LayerSpec] = _load()

# Keras 2 / alternative spellings of the same layers.
ALIASES = {
    "keras.layers.Convolution1D": "keras.layers.Conv1D",
    "keras.layers.Convolution2D": "keras.layers.Conv2D",
    "keras.layers.Convolution3D": "keras.layers.Conv3D",
    "keras.layers.Conv2DTranspose": "keras.layers.Conv2DTranspose",
    "keras.layers.Deconvolution2D": "keras.layers.Conv2DTranspose",
    "keras.layers.MaxPool1D": "keras.layers.MaxPooling1D",
    "keras.layers.MaxPool2D": "keras.layers.MaxPooling2D",
    "keras.layers.MaxPool3D": "keras.layers.MaxPooling3D",
    "keras.layers.AvgPool1D": "keras.layers.AveragePooling1D",
    "keras.layers.AvgPool2D": "keras.layers.AveragePooling2D",
    "keras.layers.GlobalAvgPool1D": "keras.layers.GlobalAveragePooling1D",
    "keras.layers.GlobalAvgPool2D": "keras.layers.GlobalAveragePooling2D",
    "keras.layers.GlobalMaxPool1D": "keras.layers.GlobalMaxPooling1D",
    "keras.layers.GlobalMaxPool2D": "keras.layers.GlobalMaxPooling2D",
    "keras.layers.SeparableConvolution2D": "keras.layers.SeparableConv2D",
    "keras.layers.SeparableConvolution1D": "keras.layers.SeparableConv1D",
    "keras.layers.Conv1DTranspose": "keras.layers.Conv1DTranspose",
    "keras.layers.Convolution1DTranspose": "keras.layers.Conv1DTranspose",
    "keras.layers.Convolution2DTranspose": "keras.layers.Conv2DTranspose",
    "keras.layers.Convolution3DTranspose": "keras.layers.Conv3DTranspose",
    "keras.layers.Deconvolution3D": "keras.layers.Conv3DTranspose",
    "keras.layers.AvgPool3D": "keras.layers.AveragePooling3D",
    "keras.layers.GlobalAvgPool3D": "keras.layers.GlobalAveragePooling3D",
    "keras.layers.GlobalMaxPool3D": "keras.layers.GlobalMaxPooling3D",
    # Keras 2 cuDNN layers: the same math as LSTM / GRU(reset_after=True) with the default
    # tanh / sigmoid activations, which is what Keras 3's defaults are
    "keras.layers.CuDNNLSTM": "keras.layers.LSTM",
    "keras.layers.CuDNNGRU": "keras.layers.GRU",
}


def lookup(qualname: str) -> LayerSpec | None:
    return LAYERS.get(ALIASES.get(qualname, qualname))
