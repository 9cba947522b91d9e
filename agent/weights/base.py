"""What every weight-port rule shares: the error type and reading/writing one weight."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn


class PortError(Exception):
    """A layer could not be matched or its weights do not fit."""


Array = np.ndarray[Any, Any]
PortRule = Callable[[Any, nn.Module, str], None]


def _weights(layer: Any) -> dict[str, Array]:
    return {w.name.split("/")[-1].split(":")[0]: np.asarray(w.numpy() if hasattr(w, "numpy")
                                                             else w) for w in layer.weights}


def _set(param: torch.Tensor | None, value: Array, where: str) -> None:
    if param is None:
        raise PortError(f"{where}: torch module has no parameter for a Keras weight")
    t = torch.as_tensor(np.ascontiguousarray(value), dtype=param.dtype)
    if tuple(t.shape) != tuple(param.shape):
        raise PortError(f"{where}: shape {tuple(value.shape)} -> {tuple(t.shape)} does not fit "
                        f"torch {tuple(param.shape)}")
    with torch.no_grad():
        param.copy_(t)
