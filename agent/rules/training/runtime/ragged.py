"""TF's RaggedTensor as rows, copied into a converted script that builds ragged values
(``tf.ragged.constant``, ``tf.strings.split`` of a batch): torch has no ragged tensors.

A ``RaggedRows`` holds one entry per row: a torch tensor (the row's dense rest), a NumPy
string array (split strings), or a ``RaggedRows`` (a further ragged axis). A converted
pipeline slices one (``from_tensor_slices``) and batches the rows back into one
(``DataPipeline.batch``), as tf.data does with ragged components; ``row_lengths``,
``merge_dims`` and ``to_tensor`` give TF's values. No ``__future__`` import: inlined.
"""

from typing import Any

import numpy as np
import torch


class RaggedRows:
    """TF's RaggedTensor: one entry per row (torch tensor, string array or RaggedRows);
    ``to_tensor`` pads every ragged axis at its end as TF does ("" for strings, else 0)."""

    def __init__(self, rows: list[Any], dtype: Any = None) -> None:
        self.rows = list(rows)
        self.dtype = dtype if dtype is not None or not self.rows else self.rows[0].dtype

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Any:
        return self.rows[index]

    def __iter__(self) -> Any:
        return iter(self.rows)

    def row_lengths(self) -> torch.Tensor:
        return torch.tensor([len(r) for r in self.rows], dtype=torch.int64)

    def nrows(self) -> torch.Tensor:
        return torch.tensor(len(self.rows), dtype=torch.int64)

    def merge_dims(self, outer_axis: int, inner_axis: int) -> Any:
        """Axes 0 and 1 merged: the rows' rows in order (a dense tensor once no ragged axis
        is left, as TF returns)."""
        if (outer_axis, inner_axis) != (0, 1):
            raise ValueError(f"merge_dims({outer_axis}, {inner_axis}): only axes 0 and 1 "
                             "are reproduced here")
        parts = [part for row in self.rows for part in row]
        if self.rows and all(isinstance(r, RaggedRows) for r in self.rows):
            return RaggedRows(parts, self.dtype)
        if self.rows and isinstance(self.rows[0], np.ndarray):
            return np.concatenate(self.rows)
        return torch.cat(list(self.rows)) if self.rows else torch.zeros(0, dtype=self.dtype)

    def to_tensor(self, default_value: Any = None) -> Any:
        dense = [r.to_tensor(default_value) if isinstance(r, RaggedRows) else r
                 for r in self.rows]
        if dense and isinstance(dense[0], np.ndarray) and dense[0].dtype.kind in "USO":
            fill: Any = "" if default_value is None else default_value
            width = max(len(r) for r in dense)
            out = np.full((len(dense), width), fill, dtype=object)
            for k, row in enumerate(dense):
                out[k, :len(row)] = row
            return out.astype(str)
        rank = max((r.dim() for r in dense), default=1)
        shape = [max((r.shape[d] if r.dim() == rank else 0 for r in dense), default=0)
                 for d in range(rank)]
        dtype = dense[0].dtype if dense else self.dtype or torch.float32
        out_t = torch.full((len(dense), *shape), 0 if default_value is None else default_value,
                           dtype=dtype)
        for k, row in enumerate(dense):
            if row.dim() == rank:
                out_t[k][tuple(slice(0, n) for n in row.shape)] = row
        return out_t

    def to_list(self) -> list[Any]:
        return [r.to_list() if isinstance(r, RaggedRows) else r.tolist() for r in self.rows]


def _depth(value: Any) -> int:
    """The nesting depth of a list of lists/arrays (an array counts its axes)."""
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value.ndim
    if isinstance(value, (list, tuple)):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _leaf_dtype(value: Any) -> torch.dtype | None:
    """TF's inferred dtype: Python floats float32, ints int32, bools bool; arrays keep theirs
    (None: no values to infer it from)."""
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return torch.as_tensor(np.asarray(value)).dtype if np.size(value) else None
    if isinstance(value, (list, tuple)):
        kinds = [k for k in (_leaf_dtype(v) for v in value) if k is not None]
        floats = [k for k in kinds if k.is_floating_point]
        return floats[0] if floats else kinds[0] if kinds else None
    if isinstance(value, bool):
        return torch.bool
    return torch.int32 if isinstance(value, int) else torch.float32


def ragged_constant(pylist: Any, dtype: torch.dtype | None = None,
                    ragged_rank: int | None = None) -> RaggedRows:
    """tf.ragged.constant: every axis but the innermost ragged by default (TF's
    ``ragged_rank = depth - 1``), a row of the last ragged axis a dense tensor."""
    rank = _depth(pylist) - 1 if ragged_rank is None else ragged_rank
    if rank < 1:
        raise ValueError("tf.ragged.constant: a list of rows (ragged_rank >= 1)")
    kind = (_leaf_dtype(pylist) or torch.float32) if dtype is None else dtype

    def rows(value: Any, level: int) -> Any:
        if level == 0:
            return torch.as_tensor(np.asarray(value), dtype=kind)
        return RaggedRows([rows(v, level - 1) for v in value], kind)

    return rows(pylist, rank)  # type: ignore[no-any-return]
