"""Numerical equivalence: the Keras original and the converted module on the same input.

Used by the tests and by the validator's last stage. Both models are built from source,
weights are ported Keras → torch, and outputs are compared in inference mode with a
tolerance relative to the output's scale (float32 accumulates differently per backend).
"""

from __future__ import annotations

import os
import types
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.weights import port_weights


@dataclass(frozen=True)
class Equivalence:
    passed: bool
    max_abs_diff: float
    scale: float
    message: str


def exec_source(source: str, name: str) -> dict[str, Any]:
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module.__dict__


def _resolve(ns: dict[str, Any], builder: str) -> Any:
    """``model`` (a variable) or ``build_model()`` (a call expression) in namespace ``ns``."""
    return eval(builder, ns) if "(" in builder else ns[builder]


def _input_specs(keras_model: Any, module: Any) -> list[tuple[list[int | None], str]]:
    """(shape without batch, dtype) per input: the Keras model's, else the module's example."""
    examples = getattr(module, "example_input_array", None)
    examples = examples if isinstance(examples, (list, tuple)) else [examples]
    try:
        specs = [(list(t.shape[1:]), str(t.dtype)) for t in keras_model.inputs]
        # the converted module knows when Keras casts a float Input (Embedding): ints then
        return [(dims, str(e.dtype) if e is not None and "int" in str(e.dtype) else dtype)
                for (dims, dtype), e in zip(specs, [*examples, *[None] * len(specs)],
                                             strict=False)]
    except (AttributeError, ValueError) as exc:  # subclassed Keras models: no symbolic inputs
        if examples == [None]:
            raise ValueError("no input shape: neither Keras inputs nor "
                             "example_input_array") from exc
        return [(list(e.shape[1:]), str(e.dtype)) for e in examples]


def random_inputs(keras_model: Any, seed: int = 0, batch: int = 3,
                  module: Any = None) -> list[Any]:
    rng = np.random.default_rng(seed)
    vocab = 10
    for layer in getattr(keras_model, "layers", []):
        if type(layer).__name__ == "Embedding":
            vocab = min(vocab, int(layer.input_dim))
    out = []
    examples = getattr(module, "example_input_array", None)
    examples = list(examples) if isinstance(examples, (list, tuple)) else [examples]
    for k, (dims, dtype) in enumerate(_input_specs(keras_model, module)):
        example = examples[k] if k < len(examples) else None
        sizes = list(getattr(example, "shape", ())[1:])
        # an open axis: the module's own example size (long enough for its windows), else 5
        shape = [batch] + [d if d is not None else (
            int(sizes[j]) if len(sizes) == len(dims) else 5) for j, d in enumerate(dims)]
        if "int" in dtype:
            out.append(rng.integers(0, vocab, size=shape).astype("int64"))
        else:
            out.append(rng.standard_normal(shape).astype("float32"))
    return out


def compare(keras_model: Any, module: Any, *, atol: float = 1e-4, seed: int = 0) -> Equivalence:
    import keras
    import torch

    xs = random_inputs(keras_model, seed, module=module)
    ref = keras_model(_keras_structure(keras_model, xs), training=False)  # builds subclasses
    if any(isinstance(p, torch.nn.parameter.UninitializedParameter)
           for p in module.parameters()):
        with torch.no_grad():  # Lazy modules take their shapes from one forward
            module(*[torch.as_tensor(x) for x in xs])
    port_weights(keras_model, module)
    module.eval()
    refs = ref if isinstance(ref, (list, tuple)) else [ref]
    refs = [np.asarray(keras.ops.convert_to_numpy(r)) for r in refs]
    again = keras_model(_keras_structure(keras_model, xs), training=False)
    again = again if isinstance(again, (list, tuple)) else [again]
    # an output Keras itself draws at random (a sampling layer with a seed generator): two
    # calls on the same input differ by more than the tolerance (run-to-run float noise
    # does not count), so only its shape can be compared
    drawn = {k for k, (r, a) in enumerate(zip(refs, again, strict=False))
             if r.shape == np.shape(a) and _differs(r, np.asarray(
                 keras.ops.convert_to_numpy(a)), atol)}
    with torch.no_grad():
        got = module(*[torch.as_tensor(x) for x in xs])
    gots = got if isinstance(got, (list, tuple)) else [got]
    gots = [g.detach().cpu().numpy() for g in gots]
    return _verdict(refs, gots, atol, drawn)


def _differs(first: Any, second: Any, atol: float) -> bool:
    """Two Keras calls on one input differ beyond the comparison's own tolerance."""
    scale = max(1.0, float(np.max(np.abs(first))) if first.size else 0.0)
    return bool(first.size) and float(np.max(np.abs(first - second))) > atol * scale


def _keras_structure(keras_model: Any, xs: list[Any]) -> Any:
    """The inputs as the Keras model takes them: one array, a list, or the dict a model
    built on a dict of inputs wants (``model.inputs`` is it flattened, keys sorted)."""
    struct = getattr(keras_model, "_inputs_struct", None)
    if isinstance(struct, dict) and len(struct) == len(xs):
        return dict(zip(sorted(struct), xs, strict=True))
    return xs if len(xs) > 1 else xs[0]


def compare_exported(original: Any, module: Any, xs: list[Any], refs: list[Any], *,
                     atol: float = 1e-4) -> Equivalence:
    """Like :func:`compare`, against weights, inputs and outputs exported by another process
    (the original built by real TensorFlow: ``agent/tools/tf_original.py``)."""
    import torch

    examples = getattr(module, "example_input_array", None)
    examples = list(examples) if isinstance(examples, (list, tuple)) else [examples]
    # token ids travel as floats when the Keras Input was float; the module says its dtype
    tensors = [torch.as_tensor(x).to(e.dtype) if isinstance(e, torch.Tensor) else
               torch.as_tensor(x) for x, e in zip(xs, [*examples, *[None] * len(xs)],
                                                  strict=False)]
    port_weights(original, module)
    module.eval()
    with torch.no_grad():
        got = module(*tensors)
    gots = got if isinstance(got, (list, tuple)) else [got]
    return _verdict(refs, [g.detach().cpu().numpy() for g in gots], atol)


def _verdict(refs: list[Any], gots: list[Any], atol: float,
             drawn: set[int] | frozenset[int] = frozenset()) -> Equivalence:
    """``drawn``: outputs Keras draws at random, compared by shape only (and said so)."""
    if len(refs) != len(gots):
        return Equivalence(False, float("inf"), 0.0,
                           f"{len(refs)} Keras outputs vs {len(gots)} torch outputs")
    if drawn and len(drawn) == len(refs):
        return Equivalence(False, float("inf"), 0.0, "every Keras output is drawn at random "
                           "(two calls differ): nothing to compare")
    worst, scale = 0.0, 0.0
    for k, (r, g) in enumerate(zip(refs, gots, strict=True)):
        if r.shape != g.shape:
            return Equivalence(False, float("inf"), 0.0, f"shape {r.shape} vs {g.shape}")
        if k in drawn:
            continue
        worst = max(worst, float(np.max(np.abs(r - g))) if r.size else 0.0)
        scale = max(scale, float(np.max(np.abs(r))) if r.size else 0.0)
    tol = atol * max(1.0, scale)
    ok = worst <= tol
    note = (f"; output(s) {', '.join(str(k) for k in sorted(drawn))} drawn at random by "
            "Keras: shape compared only") if drawn else ""
    return Equivalence(ok, worst, scale, f"max |diff| {worst:.3g} (tolerance {tol:.3g}){note}")


def check_sources(original: str, converted: str, builder: str = "model", *,
                  atol: float = 1e-4) -> Equivalence:
    """Build both from source (Keras on its torch backend) and compare."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    from agent.tf_shim import install

    keras.utils.set_random_seed(0)
    install()
    keras_model = _resolve(exec_source(original, "k2l_original"), builder)
    module = _resolve(exec_source(converted, "k2l_converted"), builder)
    return compare(keras_model, module, atol=atol)
