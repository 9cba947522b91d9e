"""Keras's ``StringLookup`` and ``TextVectorization`` used on data, in Python/NumPy/torch,
copied into a converted script so its text preprocessing needs neither Keras nor TF.

Keras 3 defines the numbers: an adapted vocabulary is sorted by count, ties by the token's
UTF-8 bytes from high to low (``np.lexsort`` reversed); int output reserves 0 for the mask
token (TextVectorization's "") and 1 for the OOV token "[UNK]", other modes have no mask
index; ``lower`` is ASCII only and ``split="whitespace"`` cuts at runs of ASCII whitespace,
as ``tf.strings``; TF-IDF weights are ``log(1 + docs / (1 + doc_count))``, the OOV slot
their mean. Outputs are torch tensors (int64, float32 for TF-IDF); inverted
lookups give NumPy string arrays. A callable ``standardize`` gets a NumPy array of str, as
Keras 3 gives it off the TensorFlow backend.
"""

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
_UPPER_TO_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_LOOKUP_MODES = ("int", "multi_hot", "count", "tf_idf")


def _as_strings(values: Any, encoding: str = "utf-8") -> np.ndarray:
    """Strings, bytes, lists or arrays of them (or a torch tensor of ints) as an array."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    array = np.asarray(values, dtype=object)
    return np.vectorize(lambda v: v.decode(encoding) if isinstance(v, bytes) else str(v),
                        otypes=[object])(array).astype(str) if array.size else \
        array.astype(str)


def _batches(data: Any) -> Iterable[Any]:
    """adapt()'s data: one array (a list, a tuple, an array, a string), else batches."""
    if isinstance(data, (list, tuple, np.ndarray, str, bytes, torch.Tensor)):
        array = np.asarray(data, dtype=object)
        return [array[:, None] if array.ndim == 1 else array]
    batches: Iterable[Any] = data  # tf.data's replacement, a generator: each item a batch
    return batches


class StringLookup:
    """keras.layers.StringLookup: strings → vocabulary indices (``invert``: indices →
    strings)."""

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1,
                 mask_token: str | None = None, oov_token: str = "[UNK]",
                 vocabulary: Any = None, idf_weights: Any = None, invert: bool = False,
                 output_mode: str = "int", pad_to_max_tokens: bool = False,
                 sparse: bool = False, encoding: str = "utf-8", name: str | None = None,
                 **kwargs: Any) -> None:
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        if output_mode not in _LOOKUP_MODES or sparse or num_oov_indices > 1:
            raise ValueError(f"StringLookup(output_mode={output_mode!r}, sparse={sparse}, "
                             f"num_oov_indices={num_oov_indices}) is not reproduced here")
        if invert and output_mode != "int":
            raise ValueError("`output_mode` must be `'int'` when `invert` is true.")
        self.max_tokens, self.num_oov_indices = max_tokens, num_oov_indices
        self.mask_token, self.oov_token, self.invert = mask_token, oov_token, invert
        self.output_mode, self.pad_to_max_tokens = output_mode, pad_to_max_tokens
        self.encoding, self.name = encoding, name
        self.tokens: list[str] = []
        self.idf_weights: np.ndarray | None = None
        self._index: dict[str, int] = {}
        self._counts: Counter[str] = Counter()
        self._doc_counts: Counter[str] = Counter()
        self._documents = 0
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    def _oov_start(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self) -> int:
        return self._oov_start() + self.num_oov_indices

    def _specials(self) -> list[str | None]:
        return [self.mask_token] * self._oov_start() + [self.oov_token] * self.num_oov_indices

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        if isinstance(vocabulary, str):  # a file: one token a line
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = [line.rstrip("\n") for line in f]
        tokens = [str(t) for t in _as_strings(vocabulary).reshape(-1).tolist()]
        start = self._token_start()
        found = tokens[:start] == self._specials()
        if found:
            tokens = tokens[start:]
        if len(set(tokens)) != len(tokens):
            raise ValueError("The passed vocabulary has at least one repeated term.")
        if self.mask_token is not None and self.mask_token in tokens:
            raise ValueError("Found reserved mask token at unexpected location in "
                             "`vocabulary`.")
        if self.max_tokens is not None and start + len(tokens) > self.max_tokens:
            raise ValueError("Attempted to set a vocabulary larger than the maximum vocab "
                             "size.")
        self._set_tokens(tokens)
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError("`idf_weights` must be set if output_mode is 'tf_idf'.")
            weights = np.asarray(idf_weights, dtype=np.float64)
            front = 0 if found else start
            self._set_idf(np.concatenate([np.full(front, weights.mean()), weights]))

    def _set_tokens(self, tokens: list[str]) -> None:
        self.tokens = tokens
        start = self._token_start()
        self._index = {t: start + k for k, t in enumerate(tokens)}

    def _set_idf(self, weights: np.ndarray) -> None:
        if self.pad_to_max_tokens and self.max_tokens is not None:
            weights = np.pad(weights, (0, self.max_tokens - len(weights)))
        self.idf_weights = weights.astype(np.float32)

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[Any]:
        specials = self._specials()
        if include_special_tokens:
            return [*specials, *self.tokens]
        return list(self.tokens)

    def vocabulary_size(self) -> int:
        return self._token_start() + len(self.tokens)

    # ---- adapt
    def reset_state(self) -> None:
        self._counts, self._doc_counts, self._documents = Counter(), Counter(), 0

    def update_docs(self, docs: list[list[str]]) -> None:
        """Count the tokens of documents (each a list of tokens)."""
        for doc in docs:
            self._counts.update(doc)
            if self.output_mode == "tf_idf":
                self._doc_counts.update(set(doc))
        self._documents += len(docs)

    def update_state(self, data: Any) -> None:
        array = _as_strings(data, self.encoding)
        rows = [array.reshape(-1).tolist()] if array.ndim <= 1 else \
            array.reshape(len(array), -1).tolist()
        self.update_docs(rows)

    def finalize_state(self) -> None:
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                self._counts.pop(special, None)
        if not self._counts:
            return
        ranked = sorted(self._counts.items(), key=lambda kv: (kv[1], kv[0].encode("utf-8")),
                        reverse=True)
        if self.max_tokens:
            ranked = ranked[:self.max_tokens - self._token_start()]
        self._set_tokens([t for t, _ in ranked])
        if self.output_mode == "tf_idf":
            idf = np.array([math.log(1 + self._documents / (1 + self._doc_counts[t]))
                            for t in self.tokens], dtype=np.float32)
            self._set_idf(np.concatenate([np.full(self._token_start(), idf.mean()), idf]))
        self.reset_state()

    def adapt(self, data: Any, batch_size: Any = None, steps: int | None = None) -> None:
        self.reset_state()
        for k, batch in enumerate(_batches(data)):
            if steps is not None and k >= steps:
                break
            self.update_state(batch)
        self.finalize_state()

    # ---- lookup
    def _lookup(self, token: str) -> int:
        if self.mask_token is not None and token == self.mask_token:
            return 0 if self.output_mode == "int" else -1  # other modes drop it
        index = self._index.get(token)
        if index is not None:
            return index
        if self.num_oov_indices == 0:
            raise ValueError(f"When `num_oov_indices=0` all inputs should be in vocabulary, "
                             f"found OOV value {token!r}.")
        return self._oov_start()

    def _invert(self, index: int) -> str:
        if self.mask_token is not None and index == 0:
            return self.mask_token
        at = index - self._token_start()
        return self.tokens[at] if 0 <= at < len(self.tokens) else self.oov_token

    def lookup_rows(self, rows: Any) -> torch.Tensor:
        """Indices of a string array (same shape), or the encoded rows in count modes."""
        array = _as_strings(rows, self.encoding)
        indices = np.vectorize(self._lookup, otypes=[np.int64])(array) if array.size else \
            np.zeros(array.shape, dtype=np.int64)
        if self.output_mode == "int":
            return torch.from_numpy(indices)
        return self.encode(indices.reshape(-1) if indices.ndim <= 1 else indices)

    def encode(self, indices: Any) -> torch.Tensor:
        """multi_hot/count/tf_idf of index rows (a list of rows, or one row)."""
        depth = self.max_tokens if self.pad_to_max_tokens and self.max_tokens \
            else self.vocabulary_size()
        single = isinstance(indices, np.ndarray) and indices.ndim == 1
        rows = [indices] if single else list(indices)
        out = np.zeros((len(rows), depth), dtype=np.float32)
        for r, row in enumerate(rows):
            for index in np.asarray(row, dtype=np.int64).reshape(-1):
                if 0 <= index < depth:
                    out[r, index] = 1.0 if self.output_mode == "multi_hot" else \
                        out[r, index] + 1.0
        if self.output_mode == "tf_idf" and self.idf_weights is not None:
            out = out * self.idf_weights[:depth]
        else:
            out = out.astype(np.int64)  # Keras 3 counts in the lookup's int64
        return torch.from_numpy(out[0] if single else out)

    def __call__(self, inputs: Any) -> Any:
        if self.invert:
            array = inputs.detach().cpu().numpy() if isinstance(inputs, torch.Tensor) \
                else np.asarray(inputs)
            return np.vectorize(self._invert, otypes=[object])(array.astype(np.int64)) \
                .astype(str) if array.size else array.astype(str)
        return self.lookup_rows(inputs)


class TextVectorization:
    """keras.layers.TextVectorization: standardize, split, (n-grams), look up, pad."""

    def __init__(self, max_tokens: int | None = None,
                 standardize: str | Callable[[Any], Any] | None = "lower_and_strip_punctuation",
                 split: str | Callable[[Any], Any] | None = "whitespace",
                 ngrams: int | tuple[int, ...] | None = None, output_mode: str = "int",
                 output_sequence_length: int | None = None, pad_to_max_tokens: bool = False,
                 vocabulary: Any = None, idf_weights: Any = None, sparse: bool = False,
                 ragged: bool = False, encoding: str = "utf-8", name: str | None = None,
                 **kwargs: Any) -> None:
        if ragged or callable(split):
            raise ValueError("TextVectorization(ragged=True or a callable split) is not "
                             "reproduced here")
        self.standardize, self.split = standardize, split
        self.ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self.output_sequence_length = output_sequence_length
        self.encoding, self.name = encoding, name
        self.lookup = StringLookup(max_tokens=max_tokens, vocabulary=vocabulary,
                                   idf_weights=idf_weights, pad_to_max_tokens=pad_to_max_tokens,
                                   mask_token="", output_mode=output_mode, sparse=sparse,
                                   encoding=encoding)
        self.output_mode = self.lookup.output_mode

    def _standardized(self, inputs: Any) -> np.ndarray:
        array = _as_strings(inputs, self.encoding)
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            array = np.vectorize(lambda s: s.translate(_UPPER_TO_LOWER), otypes=[object])(
                array).astype(str) if array.size else array
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            array = np.vectorize(lambda s: _PUNCTUATION.sub("", s), otypes=[object])(
                array).astype(str) if array.size else array
        if callable(self.standardize):
            array = _as_strings(self.standardize(array), self.encoding)
        return array

    def _tokens(self, text: str) -> list[str]:
        tokens = [t for t in _WHITESPACE.split(text) if t] if self.split == "whitespace" \
            else list(text)
        if not self.ngrams:
            return tokens
        return [" ".join(tokens[k:k + n]) for n in self.ngrams
                for k in range(len(tokens) - n + 1)]

    def _documents(self, inputs: Any) -> tuple[list[list[str]], bool]:
        """(token lists, whether the input was one string) after standardize and split."""
        array = self._standardized(inputs)
        if array.ndim > 1:
            if array.shape[-1] != 1:
                raise ValueError("When using `TextVectorization` to tokenize strings, the "
                                 "input rank must be 1 or the last shape dimension must be 1. "
                                 f"Received: inputs.shape={array.shape}")
            array = array[..., 0]
        if array.ndim > 1:
            raise ValueError(f"TextVectorization: inputs of shape {array.shape} are not "
                             "reproduced here")
        if array.ndim == 0:
            return [self._tokens(str(array))], True
        return [self._tokens(str(s)) for s in array.tolist()], False

    def update_state(self, data: Any) -> None:
        if self.split is None:
            self.lookup.update_state(self._standardized(data))
            return
        docs, _ = self._documents(data)
        self.lookup.update_docs(docs)

    def adapt(self, data: Any, batch_size: Any = None, steps: int | None = None) -> None:
        self.lookup.reset_state()
        for k, batch in enumerate(_batches(data)):
            if steps is not None and k >= steps:
                break
            self.update_state(batch)
        self.lookup.finalize_state()

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[Any]:
        return self.lookup.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        return self.lookup.vocabulary_size()

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        self.lookup.set_vocabulary(vocabulary, idf_weights)

    def _fit_length(self, indices: torch.Tensor) -> torch.Tensor:
        """Cut or zero-pad the last axis to output_sequence_length."""
        length = self.output_sequence_length
        if length is None:
            return indices
        indices = indices[..., :length]
        return torch.nn.functional.pad(indices, (0, length - indices.shape[-1]))

    def __call__(self, inputs: Any) -> torch.Tensor:
        if self.split is None:
            array = self._standardized(inputs)
            if self.output_mode == "int":
                return self._fit_length(self.lookup.lookup_rows(array))
            return self.lookup.lookup_rows(array)
        docs, single = self._documents(inputs)
        rows = [np.array([self.lookup._lookup(t) for t in doc], dtype=np.int64)
                for doc in docs]
        if self.output_mode != "int":
            return self.lookup.encode(rows[0] if single else rows)
        if single:
            return self._fit_length(torch.from_numpy(rows[0]))
        width = self.output_sequence_length if self.output_sequence_length is not None \
            else max((len(r) for r in rows), default=0)
        out = np.zeros((len(rows), width), dtype=np.int64)
        for r, row in enumerate(rows):
            out[r, :min(width, len(row))] = row[:width]
        return torch.from_numpy(out)
