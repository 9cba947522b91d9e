"""A Python generator of whole batches, fed to Lightning the way Keras's fit reads it; copied
into a converted script that fits or evaluates on a generator (see utilities.py).

Keras draws ``steps_per_epoch`` batches per epoch from ONE generator that goes on across
epochs; Lightning restarts iteration each epoch. The iterator is therefore created once and
shared, and each pass stops after ``steps`` batches itself: Lightning fetches one batch ahead
to see the epoch's end, and that fetch must end the pass, not draw the next epoch's first
batch from the user's generator. NumPy float64 becomes float32 (Keras casts inputs to the
layers' float32); integer arrays keep their dtype.
"""

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset


class KerasBatches(IterableDataset):  # type: ignore[type-arg]
    """Batches from a generator shared by every epoch: ``DataLoader(..., batch_size=None)``."""

    def __init__(self, source: Any, steps: int | None = None) -> None:
        super().__init__()
        self.source = source
        self.steps = steps  # batches per pass (Keras's steps_per_epoch / validation_steps)
        self.iterator: Iterator[Any] | None = None

    def __iter__(self) -> Iterator[Any]:
        if self.iterator is None:
            self.iterator = iter(self.source)
        drawn = 0
        while self.steps is None or drawn < self.steps:
            try:
                batch = next(self.iterator)
            except StopIteration:
                return
            drawn += 1
            yield _batch_tensors(batch)


def _batch_tensors(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _batch_tensors(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return tuple(_batch_tensors(v) for v in value)
    if isinstance(value, torch.Tensor):
        return value
    arr = np.asarray(value)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return torch.as_tensor(arr) if arr.dtype.kind in "biuf" else arr


def keras_predict_inputs(batch: Any) -> list[Any]:
    """One batch of a dataset passed to Keras's ``predict`` → the model's inputs, as Keras's
    ``unpack_x_y_sample_weight`` reads it: a tuple of 1 to 3 items is ``(x, y, weights)``
    (targets ignored), anything else is ``x``; a tuple or list ``x`` holds several inputs.
    Used as a ``DataLoader(..., batch_size=None)``'s ``collate_fn``."""
    batch = _batch_tensors(batch)
    x = batch[0] if isinstance(batch, tuple) and 1 <= len(batch) <= 3 else batch
    return list(x) if isinstance(x, tuple) else [x]


def keras_predict(module: torch.nn.Module, x: Any, batch_size: int = 32) -> Any:
    """``model.predict(x)`` where no Trainer may run (a callback while ``fit`` runs: a second
    Trainer would take the module over): Keras's inference pass, ``batch_size`` rows at a time
    in eval mode without gradients, as NumPy arrays; the module's mode is restored after.
    A tuple or list ``x`` holds several inputs; several outputs give a list of arrays, nested
    as the outputs nest (a view model over a layer's several outputs)."""
    inputs = _batch_tensors(tuple(x) if isinstance(x, (tuple, list)) else (x,))
    device = next(module.parameters(), torch.empty(0)).device
    was_training = module.training
    module.eval()
    outputs = []
    try:
        with torch.no_grad():
            for start in range(0, len(inputs[0]), batch_size):
                outputs.append(module(*(t[start:start + batch_size].to(device) for t in inputs)))
    finally:
        module.train(was_training)
    return _predicted_arrays(outputs)


def _predicted_arrays(batches: list[Any]) -> Any:
    """Each output's batches joined into one NumPy array, in the outputs' (nested)
    structure, with lists where Keras's predict gives lists."""
    if isinstance(batches[0], (tuple, list)):
        return [_predicted_arrays(list(parts)) for parts in zip(*batches, strict=True)]
    return torch.cat(batches).cpu().numpy()
