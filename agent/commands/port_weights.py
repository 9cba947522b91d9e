"""The ``port-weights`` command: a trained Keras model's weights into the converted module."""

from __future__ import annotations

import os
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
            import keras

            keras_model = keras.saving.load_model(str(keras_file), compile=False)
        module = _build(torch_spec)
        pairs = port_weights(keras_model, module)
        torch.save(module.state_dict(), output)
    except (PortError, ValueError, OSError, KeyError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for p in pairs:
        print(f"ported {p}")
    print(f"wrote {output}")
    return 0
