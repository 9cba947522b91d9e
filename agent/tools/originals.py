"""Build the Keras original an equivalence job names, from its source file.

Shared by the torch-side job (Keras on torch) and the TensorFlow-side export
(``agent/tools/tf_original.py``), which must not import each other's halves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.tools.module_loader import load_definitions


def build_original(job: dict[str, Any]) -> Any:
    """``job["function"]()`` from the original's definitions, else its model-building code
    (``original_code``) run on top of them, giving ``job["var"]``."""
    module = load_definitions(Path(job["original"]))
    if job["function"]:
        return getattr(module, job["function"])()
    ns = dict(module.__dict__)
    exec(compile(job["original_code"], job["original"], "exec"), ns)
    return ns[job["var"]]
