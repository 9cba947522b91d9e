"""The ``port-weights`` command: a trained Keras model's weights into the converted module."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from agent.weights import PortError, port_weights


def _build(spec: str) -> Any:
    """``file.py:Name`` (a class or variable) or ``file.py:build_model()`` → the object."""
    path, _, expr = spec.rpartition(":")
    if not path or not expr:
        raise ValueError(f"{spec!r}: expected FILE.py:NAME or FILE.py:builder()")
    from agent.tools.module_loader import load_definitions

    ns = load_definitions(Path(path)).__dict__
    obj = eval(expr, ns) if "(" in expr else ns[expr]
    return obj() if isinstance(obj, type) else obj


class _MissingClass(Exception):
    pass


_CLASS_NAME = re.compile(r"(?:Could not locate class|Unknown (?:layer|object|class)):? "
                         r"'?(?P<name>[A-Za-z_][\w.]*)'?")


def _load(keras_file: Path) -> Any:
    """A whole saved model; a custom class Keras cannot rebuild is named, with the way out."""
    import keras

    try:
        return keras.saving.load_model(str(keras_file), compile=False)
    except (TypeError, ValueError) as exc:
        found = _CLASS_NAME.search(str(exc))
        if found is None:
            raise
        raise _MissingClass(
            f"{keras_file.name} uses the custom class {found['name']}, which Keras cannot "
            "rebuild without its code: pass --keras-builder ORIGINAL.py:build_model() (the "
            "original code that builds the model; the weights are loaded into it)") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return first if isinstance(exc, (PortError, _MissingClass)) else \
        f"{type(exc).__name__}: {first}".rstrip(": ")


def run_port_weights(keras_file: Path, torch_spec: str, output: Path,
                     keras_builder: str | None) -> int:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import torch

        from agent.tf_shim import install

        install()
        if keras_builder is not None:
            keras_model = _build(keras_builder)
            keras_model.load_weights(str(keras_file))
        else:
            keras_model = _load(keras_file)
        module = _build(torch_spec)
        pairs = port_weights(keras_model, module)
        torch.save(module.state_dict(), output)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    for p in pairs:
        print(f"ported {p}")
    print(f"wrote {output}")
    return 0
