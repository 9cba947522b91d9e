"""The equivalence reference built by real TensorFlow, when a Python with TensorFlow exists.

Keras 3 on its torch backend plus ``agent/tf_shim.py`` builds most originals, but a program
that needs real TensorFlow gets no verdict that way, and every user migrating away from
TensorFlow has it installed. So, when TensorFlow is importable (in this interpreter, or in
the one ``K2L_TF_PYTHON`` names), each original is built in its own process under
``KERAS_BACKEND=tensorflow`` (``python -m agent.tools.tf_original``, through the sandbox);
it exports the layers' weights, random inputs and the model's outputs as NumPy, and the torch
side ports those weights into the converted module and compares (``frozen_model``).

This module imports neither torch nor TensorFlow at the top: one half runs under each.
Input (stdin, JSON): the equivalence jobs. Output (stdout, JSON): one answer per job, either
``{"status": "ok", "export": ...}`` or ``{"status": "not_run", "message": why}``.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

ENV = "K2L_TF_PYTHON"
# Sub-layers the weight-port rules read (Bidirectional, TimeDistributed, MultiHeadAttention).
SUBLAYERS = ("forward_layer", "backward_layer", "layer", "query_dense", "key_dense",
             "value_dense", "output_dense")
BATCH = 3


def tf_python() -> tuple[str | None, str]:
    """The interpreter that has TensorFlow, or None and why there is none."""
    named = os.environ.get(ENV, "")
    if named:
        if Path(named).is_file() and os.access(named, os.X_OK):
            return named, ""
        return None, f"{ENV}={named} is not an executable"
    try:
        found = importlib.util.find_spec("tensorflow") is not None
    except ValueError:  # the tf_shim stand-in is loaded: no real TensorFlow here
        found = False
    if found:
        return sys.executable, ""
    return None, f"TensorFlow is not importable here (install it or set {ENV})"


# ------------------------------------------------------------------ TensorFlow side


def _pack(arrays: list[Any]) -> str:
    buffer = io.BytesIO()
    np.savez(buffer, *arrays)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _unpack(blob: str) -> list[Any]:
    with np.load(io.BytesIO(base64.b64decode(blob))) as data:
        return [data[f"arr_{k}"] for k in range(len(data.files))]


def _tree(layer: Any, arrays: list[Any]) -> dict[str, Any]:
    """A layer as data: class name, name, weights (as indices into ``arrays``), sub-layers."""
    node: dict[str, Any] = {"class": type(layer).__name__, "name": str(layer.name),
                            "weights": []}
    for w in layer.weights:
        arrays.append(np.asarray(w.numpy()))
        node["weights"].append([str(getattr(w, "path", None) or w.name), len(arrays) - 1])
    node["sub"] = {attr: _tree(getattr(layer, attr), arrays) for attr in SUBLAYERS
                   if getattr(layer, attr, None) is not None
                   and hasattr(getattr(layer, attr), "weights")}
    if _is_model(layer):
        node["layers"] = [_tree(sub, arrays) for sub in layer.layers]
    return node


def _is_model(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.Model)


def _inputs(model: Any, rng: np.random.Generator) -> list[Any]:
    try:
        specs = [(list(t.shape[1:]), str(t.dtype)) for t in model.inputs]
    except (AttributeError, ValueError, TypeError) as exc:
        raise LookupError("a subclassed original has no symbolic inputs to draw data for") \
            from exc
    embeddings = [int(lyr.input_dim) for lyr in getattr(model, "layers", [])
                  if type(lyr).__name__ == "Embedding"]
    out = []
    for dims, dtype in specs:
        shape = [BATCH] + [d if d is not None else 5 for d in dims]
        if "int" in dtype or embeddings:  # token ids (the torch side casts to its dtype)
            ids = rng.integers(0, min(embeddings or [10]), size=shape)
            out.append(ids.astype(dtype if "int" in dtype else "float32"))
        else:
            out.append(rng.standard_normal(shape).astype("float32"))
    return out


def export(job: dict[str, Any]) -> dict[str, Any]:
    """Build the original under TensorFlow, run it, and return everything as data."""
    import keras

    from agent.tools.originals import build_original

    keras.utils.set_random_seed(0)
    try:
        model = build_original(job)
    except Exception as exc:  # noqa: BLE001 - reported, the fallback runs
        return {"status": "not_run", "message": "original not buildable under TensorFlow: "
                f"{type(exc).__name__}: {str(exc)[:300]}"}
    try:
        xs = _inputs(model, np.random.default_rng(0))
        ys = model(xs if len(xs) > 1 else xs[0], training=False)
        ys = list(ys) if isinstance(ys, (list, tuple)) else [ys]
        outputs = [np.asarray(keras.ops.convert_to_numpy(y)) for y in ys]
    except Exception as exc:  # noqa: BLE001
        return {"status": "not_run", "message": "original did not run under TensorFlow: "
                f"{type(exc).__name__}: {str(exc)[:300]}"}
    arrays: list[Any] = []
    tree = _tree(model, arrays)
    first = len(arrays)
    arrays += xs + outputs
    return {"status": "ok", "tree": tree, "inputs": list(range(first, first + len(xs))),
            "outputs": list(range(first + len(xs), len(arrays))), "arrays": _pack(arrays)}


def main() -> None:
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    jobs = json.load(sys.stdin)
    real_stdout, sys.stdout = sys.stdout, sys.stderr  # user code may print
    try:
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        except ImportError as exc:
            answers = [{"status": "not_run", "message": f"TensorFlow not importable: {exc}"}
                       for _ in jobs]
        else:
            answers = [export(job) for job in jobs]
    finally:
        sys.stdout = real_stdout
    json.dump(answers, sys.stdout)


# ------------------------------------------------------------------ torch side


class _Weight:
    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self._value = value

    def numpy(self) -> Any:
        return self._value


class _Frozen:
    """A Keras layer or model as exported: what ``agent.weights`` reads, nothing more."""

    name: str
    weights: list[_Weight]


def _thaw(node: dict[str, Any], arrays: list[Any]) -> Any:
    cls = type(node["class"], (_Frozen,), {})  # port rules look layers up by class name
    obj = cls()
    obj.name = node["name"]
    obj.weights = [_Weight(name, arrays[k]) for name, k in node["weights"]]
    for attr, sub in node.get("sub", {}).items():
        setattr(obj, attr, _thaw(sub, arrays))
    if "layers" in node:
        obj.layers = [_thaw(sub, arrays) for sub in node["layers"]]
        obj.inputs = []
    return obj


def frozen_model(answer: dict[str, Any]) -> tuple[Any, list[Any], list[Any]]:
    """(model stand-in for ``port_weights``, inputs, TensorFlow's outputs) from an export."""
    arrays = _unpack(answer["arrays"])
    model = _thaw(answer["tree"], arrays)
    return model, [arrays[k] for k in answer["inputs"]], [arrays[k] for k in answer["outputs"]]


if __name__ == "__main__":
    main()
