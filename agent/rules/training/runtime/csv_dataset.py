"""``tf.data.experimental.make_csv_dataset`` as a ``DataPipeline`` (data_pipeline.py), copied
into converted scripts by utilities.py.

TF's steps in TF's order: the files the patterns match, sorted (shuffled each epoch when
``shuffle``); columns named by ``column_names`` or the header; each field parsed to its
column default's type (``[0.0]`` float32, ``[0]`` int32, ``["x"]`` a string; without
defaults the types TF infers from the first ``num_rows_for_inference`` rows); an empty or
``na_value`` field takes the default (a column without one is required); elements
``(features, label)`` (or the features alone), shuffled with a buffer, repeated
``num_epochs`` times (None: forever, and then the last partial batch is dropped), batched.
Strings are NumPy string arrays, as everywhere in the runtime; a float64 column arrives
float32, as in every DataPipeline (Keras layers cast to float32 anyway). No ``__future__`` import:
the code is inlined into scripts that may not have one.
"""

import csv
import glob as _glob
import gzip
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from .data_pipeline import DataPipeline

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def make_csv_dataset(file_pattern: Any, batch_size: int, column_names: Any = None,
                     column_defaults: Any = None, label_name: Any = None,
                     select_columns: Any = None, field_delim: str = ",",
                     use_quote_delim: bool = True, na_value: str = "", header: bool = True,
                     num_epochs: Any = None, shuffle: bool = True,
                     shuffle_buffer_size: int = 10000, shuffle_seed: Any = None,
                     prefetch_buffer_size: Any = None, num_parallel_reads: Any = None,
                     sloppy: bool = False, num_rows_for_inference: Any = 100,
                     compression_type: Any = None, ignore_errors: bool = False,
                     encoding: str = "utf-8") -> DataPipeline:
    """tf.data.experimental.make_csv_dataset: batches of ``(features, label)`` dicts."""
    patterns = list(file_pattern) if isinstance(file_pattern, (list, tuple)) else [file_pattern]
    files = sorted(f for p in patterns for f in _glob.glob(str(p)))
    if not files:
        raise ValueError(f"No files match `file_pattern` {file_pattern}.")
    if compression_type not in (None, "", "GZIP"):
        raise ValueError(f"compression_type {compression_type!r}: only GZIP is supported")

    def rows(path: str) -> Iterator[list[str]]:
        opener: Any = gzip.open if compression_type == "GZIP" else open
        with opener(path, "rt", encoding=encoding, newline="") as f:
            reader = csv.reader(f, delimiter=field_delim, quoting=csv.QUOTE_MINIMAL
                                if use_quote_delim else csv.QUOTE_NONE)
            for k, row in enumerate(reader):
                if not (header and k == 0):
                    yield row

    if column_names is None:
        if not header:
            raise ValueError("Expected `column_names` or `header` arguments. Neither is "
                             "provided.")
        with (gzip.open if compression_type == "GZIP" else open)(
                files[0], "rt", encoding=encoding, newline="") as f:
            column_names = next(csv.reader(f, delimiter=field_delim))
    names = list(column_names)
    picked = list(range(len(names))) if select_columns is None else sorted(
        names.index(c) if isinstance(c, str) else int(c) for c in select_columns)
    if column_defaults is None:
        column_defaults = _infer_defaults(files, rows, picked, na_value, num_rows_for_inference)
    defaults = [list(d) if isinstance(d, (list, tuple)) else [] for d in column_defaults]
    kinds = [_kind(d, given) for d, given in zip(defaults, column_defaults, strict=True)]
    if len(defaults) != len(picked):
        raise ValueError("`column_defaults` and the columns read differ in length")
    names = [names[i] for i in picked]
    if label_name is not None and label_name not in names:
        raise ValueError(f"`label_name` provided must be one of the columns: {names}. "
                         f"Received: {label_name}.")

    def elements() -> Iterator[Any]:
        order = list(files)
        if shuffle:
            random.shuffle(order)
        for path in order:
            columns: list[list[Any]] = [[] for _ in picked]
            for line, row in enumerate(rows(path)):
                try:
                    values = [_parse(row[i], kind, default, na_value)
                              for i, kind, default in zip(picked, kinds, defaults, strict=True)]
                except (ValueError, IndexError) as exc:
                    if ignore_errors:
                        continue
                    raise ValueError(f"{path}, record {line + 1}: {exc}") from exc
                for column, value in zip(columns, values, strict=True):
                    column.append(value)
            if not columns or not columns[0]:
                continue
            features = {n: _array(c, kind) for n, c, kind in zip(names, columns, kinds,
                                                                 strict=True)}
            label = features.pop(label_name) if label_name is not None else None
            data = features if label_name is None else (features, label)
            yield from DataPipeline.from_tensor_slices(data)

    pipe = DataPipeline(elements)
    if shuffle:
        pipe = pipe.shuffle(shuffle_buffer_size, seed=shuffle_seed)
    if num_epochs != 1:
        pipe = pipe.repeat(num_epochs)
    return pipe.batch(batch_size, drop_remainder=num_epochs is None)


def _kind(default: list[Any], given: Any) -> str:
    """The column's type: int32/int64/float32/float64/string, from its default value or (an
    empty default: a required column) the dtype given."""
    if default:
        value = default[0]
        if isinstance(value, (str, bytes)):
            return "string"
        if isinstance(value, (bool, int, np.integer)):
            return "int64" if isinstance(value, np.int64) else "int32"
        return "float64" if isinstance(value, np.float64) else "float32"
    named = {torch.float32: "float32", torch.float64: "float64", torch.int32: "int32",
             torch.int64: "int64", "string": "string", str: "string"}
    return named.get(given, "float32") if not isinstance(given, (list, tuple)) else "float32"


def _parse(field: str, kind: str, default: list[Any], na_value: str) -> Any:
    if field == "" or field == na_value:
        if not default:
            raise ValueError("a required field is empty")
        return default[0].decode("utf-8") if isinstance(default[0], bytes) else default[0]
    if kind == "string":
        return field
    if not _fits(field, kind):
        raise ValueError(f"field {field!r} is not a valid {kind}")
    return int(field) if kind.startswith("int") else float(field)


def _array(values: list[Any], kind: str) -> Any:
    return np.array(values, dtype=str) if kind == "string" else np.array(values, dtype=kind)


def _infer_defaults(files: list[str], rows: Any, picked: list[int], na_value: str,
                    limit: Any) -> list[list[Any]]:
    """TF's inference: per column the least permissive of int32, int64, float32, float64,
    string that every value of the first ``limit`` rows fits (empty fields do not count)."""
    order = ["int32", "int64", "float32", "float64", "string"]
    kinds: list[str | None] = [None] * len(picked)
    seen = 0
    for path in files:
        for row in rows(path):
            if limit is not None and seen >= limit:
                break
            for j, i in enumerate(picked):
                value = row[i]
                if value in ("", na_value):
                    continue
                kind = kinds[j]
                floor = order.index(kind) if kind is not None else 0
                kinds[j] = next(k for k in order[floor:] if _fits(value, k))
            seen += 1
    out: list[list[Any]] = []
    for kind in kinds:
        kind = kind or "string"
        out.append([""] if kind == "string" else [np.dtype(kind).type(0)])
    return out


def _fits(value: str, kind: str) -> bool:
    if kind == "string":
        return True
    try:
        number = int(value) if kind.startswith("int") else float(value)
    except ValueError:
        return False
    if kind == "int32":
        return _INT32[0] <= number <= _INT32[1]
    if kind == "int64":
        return _INT64[0] <= number <= _INT64[1]
    return kind == "float64" or abs(number) <= _FLOAT32_MAX
