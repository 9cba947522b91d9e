"""A stand-in ``tensorflow`` package for building tf.keras originals without TensorFlow.

Only for the equivalence check and tests: ``tensorflow.keras`` is Keras 3, and ``tf.<op>`` /
``tf.math.<op>`` / ``tf.nn.<op>`` fall back to ``keras.ops.<op>`` where the name exists. It
is installed only when the real TensorFlow is not importable.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

_SUBMODULES = ("layers", "models", "optimizers", "losses", "metrics", "callbacks", "backend",
               "utils", "activations", "initializers", "regularizers", "constraints",
               "datasets", "applications", "preprocessing", "saving", "ops", "random")
_RENAMES = {"reduce_mean": "mean", "reduce_sum": "sum", "reduce_max": "max", "reduce_min": "min",
            "reduce_prod": "prod", "concat": "concatenate", "pow": "power", "range": "arange"}
_DTYPES = ("float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64",
           "uint8", "bool")


def _transpose(x: Any, perm: Any = None, **kwargs: Any) -> Any:
    import keras

    return keras.ops.transpose(x, axes=perm)


def _function(fn: Any = None, **kwargs: Any) -> Any:
    """``@tf.function`` (with or without arguments) runs eagerly here."""
    return fn if fn is not None else (lambda f: f)


# Names whose TF signature differs from keras.ops, or that keras.ops lacks.
_SPECIAL: dict[str, Any] = {"transpose": _transpose, "function": _function,
                            "set_seed": lambda seed: None,
                            "identity": lambda x, name=None: x}  # keras.ops': the eye matrix


_placeholder_types: dict[str, type] = {}


def _ops_module(name: str) -> types.ModuleType:
    mod = types.ModuleType(name)

    def __getattr__(attr: str) -> Any:
        import keras

        if attr[:1].isupper():  # tf.DType, tf.Variable...: Keras only asks isinstance()
            return _placeholder_types.setdefault(attr, type(attr, (), {}))
        if attr in _SPECIAL:
            return _SPECIAL[attr]
        if attr in _DTYPES:
            return attr  # keras accepts dtype names
        target = _RENAMES.get(attr, attr)
        for space in (keras.ops, keras.activations):
            if hasattr(space, target):
                return getattr(space, target)
        raise AttributeError(f"{name}.{attr} is not available in the TensorFlow stand-in")

    mod.__getattr__ = __getattr__  # type: ignore[method-assign]
    return mod


def install() -> bool:
    """Install the stand-in if TensorFlow is missing; returns True when it was installed."""
    if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is not None:
        return False
    keras = importlib.import_module("keras")
    tf = _ops_module("tensorflow")
    tf.keras = keras  # type: ignore[attr-defined]
    tf.executing_eagerly = lambda: True  # type: ignore[attr-defined]  # Keras asks this
    tf.__path__ = []
    sys.modules["tensorflow"] = tf
    sys.modules["tensorflow.keras"] = keras
    for sub in _SUBMODULES:
        if hasattr(keras, sub):
            sys.modules[f"tensorflow.keras.{sub}"] = getattr(keras, sub)
    for space in ("math", "nn", "linalg", "random"):
        mod = _ops_module(f"tensorflow.{space}")
        setattr(tf, space, mod)
        sys.modules[f"tensorflow.{space}"] = mod
    return True
