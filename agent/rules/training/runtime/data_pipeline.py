"""``tf.data.Dataset`` in torch: the same chainable methods over an IterableDataset, copied
into a converted script that built tf.data pipelines (see utilities.py).

Elements are torch tensors (nested in tuples/dicts as given), as tf.data's are tf tensors;
``map`` unpacks tuple elements into positional arguments like tf.data. ``shuffle`` uses a
buffer of ``buffer_size`` like tf.data (same distribution, not the same random stream);
``reshuffle_each_iteration`` is tf.data's default. ``prefetch`` and ``num_parallel_calls``
are accepted and ignored (DataLoader workers do that job). Fed to Lightning with
``DataLoader(pipeline, batch_size=None)``: the pipeline batches itself. No ``__future__``
import: the classes are inlined into scripts that may not have one.
"""

import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset

AUTOTUNE = -1


class DataPipeline(IterableDataset):  # type: ignore[type-arg]
    """tf.data.Dataset's chainable API over torch tensors."""

    def __init__(self, make: Callable[[], Iterable[Any]], length: int | None = None) -> None:
        super().__init__()
        self.make = make
        self.length = length

    def __iter__(self) -> Iterator[Any]:
        return iter(self.make())

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("the length of this pipeline is unknown (tf.data: UNKNOWN)")
        return self.length

    # ---- sources ---------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors: Any, name: str | None = None) -> "DataPipeline":
        data = _tensors(tensors)
        n = _first_dim(data)
        return DataPipeline(lambda: (_index(data, k) for k in range(n)), n)

    @staticmethod
    def from_tensors(tensors: Any, name: str | None = None) -> "DataPipeline":
        data = _tensors(tensors)
        return DataPipeline(lambda: iter([data]), 1)

    @staticmethod
    def from_generator(generator: Callable[..., Iterable[Any]], output_types: Any = None,
                       output_shapes: Any = None, args: tuple[Any, ...] | None = None,
                       output_signature: Any = None, name: str | None = None
                       ) -> "DataPipeline":
        return DataPipeline(lambda: (_tensors(e) for e in generator(*(args or ()))))

    @staticmethod
    def range(*args: int, **kwargs: Any) -> "DataPipeline":
        values = range(*args)
        return DataPipeline(lambda: (torch.tensor(v) for v in values), len(values))

    @staticmethod
    def zip(*datasets: Any, name: str | None = None) -> "DataPipeline":
        parts = datasets[0] if len(datasets) == 1 else datasets
        lengths = [p.length for p in _leaves(parts)]
        known = None if None in lengths else min(int(n) for n in lengths if n is not None)

        def make() -> Iterator[Any]:
            return _zip_structure(parts)
        return DataPipeline(make, known)

    # ---- transformations -------------------------------------------------------------
    def map(self, map_func: Callable[..., Any], num_parallel_calls: int | None = None,
            deterministic: bool | None = None, name: str | None = None) -> "DataPipeline":
        def call(e: Any) -> Any:
            return _tensors(map_func(*e) if isinstance(e, tuple) else map_func(e))
        return DataPipeline(lambda: (call(e) for e in self), self.length)

    def filter(self, predicate: Callable[..., Any], name: str | None = None) -> "DataPipeline":
        def keep(e: Any) -> bool:
            return bool(predicate(*e) if isinstance(e, tuple) else predicate(e))
        return DataPipeline(lambda: (e for e in self if keep(e)))

    def batch(self, batch_size: int, drop_remainder: bool = False,
              num_parallel_calls: int | None = None, deterministic: bool | None = None,
              name: str | None = None) -> "DataPipeline":
        def make() -> Iterator[Any]:
            chunk: list[Any] = []
            for e in self:
                chunk.append(e)
                if len(chunk) == batch_size:
                    yield _stack(chunk)
                    chunk = []
            if chunk and not drop_remainder:
                yield _stack(chunk)
        n = None
        if self.length is not None:
            n = self.length // batch_size if drop_remainder else -(-self.length // batch_size)
        return DataPipeline(make, n)

    def padded_batch(self, batch_size: int, padded_shapes: Any = None,
                     padding_values: Any = None, drop_remainder: bool = False,
                     name: str | None = None) -> "DataPipeline":
        """``batch`` whose (numeric) components are padded at the end of each axis: to the
        longest in the batch, or to ``padded_shapes`` where a size is given (None/-1)."""
        def make() -> Iterator[Any]:
            chunk: list[Any] = []
            for e in self:
                chunk.append(e)
                if len(chunk) == batch_size:
                    yield _pad_stack(chunk, padded_shapes, padding_values)
                    chunk = []
            if chunk and not drop_remainder:
                yield _pad_stack(chunk, padded_shapes, padding_values)
        n = None
        if self.length is not None:
            n = self.length // batch_size if drop_remainder else -(-self.length // batch_size)
        return DataPipeline(make, n)

    def unbatch(self, name: str | None = None) -> "DataPipeline":
        def make() -> Iterator[Any]:
            for b in self:
                yield from (_index(b, k) for k in range(_first_dim(b)))
        return DataPipeline(make)

    def shuffle(self, buffer_size: int, seed: int | None = None,
                reshuffle_each_iteration: bool = True, name: str | None = None
                ) -> "DataPipeline":
        rng = random.Random(seed)
        state = rng.getstate()

        def make() -> Iterator[Any]:
            if not reshuffle_each_iteration:
                rng.setstate(state)
            buffer: list[Any] = []
            for e in self:
                buffer.append(e)
                if len(buffer) >= buffer_size:
                    yield buffer.pop(rng.randrange(len(buffer)))
            while buffer:
                yield buffer.pop(rng.randrange(len(buffer)))
        return DataPipeline(make, self.length)

    def repeat(self, count: int | None = None, name: str | None = None) -> "DataPipeline":
        def make() -> Iterator[Any]:
            k = 0
            while count is None or count < 0 or k < count:
                yield from self
                k += 1
        n = self.length * count if self.length is not None and count is not None \
            and count >= 0 else None
        return DataPipeline(make, n)

    def take(self, count: int, name: str | None = None) -> "DataPipeline":
        def make() -> Iterator[Any]:
            for k, e in enumerate(self):
                if 0 <= count <= k:
                    return
                yield e
        n = self.length if count < 0 or self.length is None else min(count, self.length)
        return DataPipeline(make, n)

    def skip(self, count: int, name: str | None = None) -> "DataPipeline":
        def make() -> Iterator[Any]:
            for k, e in enumerate(self):
                if k >= count:
                    yield e
        n = None if self.length is None else max(self.length - count, 0)
        return DataPipeline(make, n)

    def enumerate(self, start: int = 0, name: str | None = None) -> "DataPipeline":
        return DataPipeline(lambda: ((torch.tensor(k), e) for k, e in
                                     enumerate(self, start)), self.length)

    def concatenate(self, dataset: "DataPipeline", name: str | None = None) -> "DataPipeline":
        def make() -> Iterator[Any]:
            yield from self
            yield from dataset
        n = None if self.length is None or dataset.length is None \
            else self.length + dataset.length
        return DataPipeline(make, n)

    def cache(self, filename: str = "", name: str | None = None) -> "DataPipeline":
        stored: list[Any] = []
        done = [False]

        def make() -> Iterator[Any]:
            if done[0]:
                yield from stored
                return
            stored.clear()
            for e in self:
                stored.append(e)
                yield e
            done[0] = True
        return DataPipeline(make, self.length)

    def prefetch(self, buffer_size: int | None = None, name: str | None = None
                 ) -> "DataPipeline":
        return self

    def with_options(self, options: Any, name: str | None = None) -> "DataPipeline":
        return self  # threading/determinism/sharding settings: DataLoader's job here

    def cardinality(self) -> int:
        return -2 if self.length is None else self.length

    def as_numpy_iterator(self) -> Iterator[Any]:
        return (_numpy(e) for e in self)


class PipelineOptions:
    """tf.data.Options: any (nested) setting can be written; none changes the pipeline."""

    def __getattr__(self, name: str) -> "PipelineOptions":
        child = PipelineOptions()
        object.__setattr__(self, name, child)
        return child


def _pad_stack(items: list[Any], shapes: Any, values: Any) -> Any:
    first = items[0]
    if isinstance(first, dict):
        return {k: _pad_stack([i[k] for i in items], _part(shapes, k), _part(values, k))
                for k in first}
    if isinstance(first, tuple):
        return tuple(_pad_stack([i[j] for i in items], _part(shapes, j), _part(values, j))
                     for j in range(len(first)))
    arrays = [torch.as_tensor(i) for i in items]
    size = [max(int(a.shape[d]) for a in arrays) for d in range(arrays[0].dim())]
    if shapes is not None:
        size = [s if w is None or int(w) < 0 else int(w)
                for s, w in zip(size, list(shapes), strict=True)]
    fill = 0 if values is None else (values.item() if isinstance(values, torch.Tensor)
                                     else values)
    out = torch.full((len(arrays), *size), fill, dtype=arrays[0].dtype)
    for k, a in enumerate(arrays):
        out[k][tuple(slice(0, n) for n in a.shape)] = a
    return out


def _part(spec: Any, key: Any) -> Any:
    """The part of a padded_shapes/padding_values structure for one component."""
    if isinstance(spec, dict):
        return spec[key]
    if isinstance(spec, tuple) and isinstance(key, int):
        return spec[key]
    return spec  # one padding value for every component


def _tensors(value: Any) -> Any:
    if hasattr(value, "row_lengths"):  # ragged rows (runtime/ragged.py): sliced by row
        return value
    if isinstance(value, dict):
        return {k: _tensors(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)) and not _is_array_like_list(value):
        return tuple(_tensors(v) for v in value)
    if isinstance(value, torch.Tensor):
        return value
    arr = np.asarray(value)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)  # tf.data keeps float64, Keras layers cast to float32
    return torch.as_tensor(arr) if arr.dtype.kind in "biuf" else arr


def _is_array_like_list(value: Any) -> bool:
    """A list of numbers (or of strings: file names) is one tensor; a tuple or a list of
    arrays is a structure."""
    return isinstance(value, list) and (all(isinstance(v, (int, float, bool)) for v in value)
                                        or all(isinstance(v, (str, bytes)) for v in value))


def _first_dim(data: Any) -> int:
    if isinstance(data, dict):
        return _first_dim(next(iter(data.values())))
    if isinstance(data, tuple):
        return _first_dim(data[0])
    return len(data)


def _index(data: Any, k: int) -> Any:
    if isinstance(data, dict):
        return {key: _index(v, k) for key, v in data.items()}
    if isinstance(data, tuple):
        return tuple(_index(v, k) for v in data)
    return data[k]


def _stack(items: list[Any]) -> Any:
    first = items[0]
    if isinstance(first, dict):
        return {k: _stack([i[k] for i in items]) for k in first}
    if isinstance(first, tuple):
        return tuple(_stack([i[j] for i in items]) for j in range(len(first)))
    if isinstance(first, torch.Tensor):
        return torch.stack(items)
    if hasattr(first, "row_lengths"):  # ragged rows batch into one more ragged axis, as TF
        return type(first)(items)
    return np.stack(items)


def _leaves(parts: Any) -> list[Any]:
    if isinstance(parts, dict):
        return [leaf for v in parts.values() for leaf in _leaves(v)]
    if isinstance(parts, (tuple, list)):
        return [leaf for v in parts for leaf in _leaves(v)]
    return [parts]


def _zip_structure(parts: Any) -> Iterator[Any]:
    if isinstance(parts, dict):
        keys = list(parts)
        for values in zip(*(iter(parts[k]) for k in keys), strict=False):
            yield dict(zip(keys, values, strict=True))
    else:
        yield from zip(*(iter(p) for p in parts), strict=False)


def _numpy(e: Any) -> Any:
    """An element as TF's ``as_numpy_iterator`` gives it: NumPy values (a scalar as a NumPy
    scalar), and strings as UTF-8 bytes (several: an object array of bytes)."""
    if isinstance(e, dict):
        return {k: _numpy(v) for k, v in e.items()}
    if isinstance(e, tuple):
        return tuple(_numpy(v) for v in e)
    if isinstance(e, torch.Tensor):
        array = e.numpy()
        return array[()] if array.ndim == 0 else array
    if isinstance(e, str):
        return e.encode("utf-8")
    if isinstance(e, np.ndarray) and e.dtype.kind == "U":
        return np.array([s.encode("utf-8") for s in e.reshape(-1).tolist()],
                        dtype=object).reshape(e.shape)
    return e
