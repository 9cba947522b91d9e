"""Subprocess entry for the equivalence check of ``migrate``: Keras is imported once per run.

Always started through ``agent/sandbox.py`` (``pipeline.run_equivalence_jobs``), which sets
its memory, CPU and process limits. Input (stdin, JSON): a list of jobs {original, converted,
class_name, var, function, original_code, and optionally tf: the answer of
``agent/tools/tf_original.py`` for it}. With a TensorFlow export the converted module is
compared with TensorFlow's own outputs; otherwise the original is built with Keras on torch
(plus the tf_shim stand-in). Output (stdout, JSON): one {status, message} per job. A job whose original cannot be built offline is ``not_run`` with the reason, never a
failure; an allocation past the memory limit says "memory limit exceeded".
"""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from agent.sandbox import memory_hit
from agent.tools.originals import build_original


def _converted(job: dict[str, Any]) -> Any:
    from agent.tools.module_loader import load_definitions

    module = load_definitions(Path(job["converted"]))
    if job["function"]:
        return getattr(module, job["function"])()
    return getattr(module, job["class_name"])()


@functools.cache
def _keras_ready() -> bool:
    """Keras (on torch) plus the tf stand-in, for originals built in this process."""
    try:
        import keras  # noqa: F401

        from agent.tf_shim import install
    except ImportError:
        return False
    install()
    return True


def _memory(exc: BaseException) -> bool:
    """RLIMIT_AS (set by agent/sandbox.py) surfaces as MemoryError or torch's allocator error."""
    return isinstance(exc, MemoryError) or memory_hit(str(exc))


def run(job: dict[str, Any]) -> dict[str, str]:
    """Against the TensorFlow export when the job carries one, else Keras on torch."""
    tf = job.get("tf")
    if isinstance(tf, dict) and tf.get("status") == "ok":
        return _against_tensorflow(job, tf)
    answer = _on_torch(job)
    why = tf.get("message", "") if isinstance(tf, dict) else str(job.get("tf_why", ""))
    if why:
        answer["message"] += f" [Keras on torch; no TensorFlow reference: {why}]"
    return answer


def _against_tensorflow(job: dict[str, Any], tf: dict[str, Any]) -> dict[str, str]:
    from agent.equivalence import compare_exported
    from agent.tools.tf_original import frozen_model

    try:
        original, xs, refs = frozen_model(tf)
        result = compare_exported(original, _converted(job), xs, refs)
    except Exception as exc:  # noqa: BLE001
        if _memory(exc):
            return {"status": "failed", "message": "memory limit exceeded: "
                    f"{type(exc).__name__}: {str(exc)[:300]}"}
        tb = traceback.format_exc(limit=3)
        return {"status": "failed", "message": f"against TensorFlow: {type(exc).__name__}: "
                f"{exc}\n{tb}"}
    return {"status": "passed" if result.passed else "failed",
            "message": f"{job['class_name']}: against TensorFlow: {result.message}"}


def _on_torch(job: dict[str, Any]) -> dict[str, str]:
    from agent.equivalence import compare

    if not _keras_ready():
        return {"status": "not_run", "message": "keras is not installed (pip install "
                "'k2l-agent[keras]')"}

    try:
        original = build_original(job)
    except Exception as exc:  # noqa: BLE001 - any failure to build the original is "not run"
        if _memory(exc):
            return {"status": "not_run", "message": "memory limit exceeded while building the "
                    f"original: {type(exc).__name__}: {str(exc)[:300]}"}
        return {"status": "not_run", "message": f"original not buildable offline: "
                f"{type(exc).__name__}: {exc}"}
    try:
        converted = _converted(job)
        result = compare(original, converted)
    except Exception as exc:  # noqa: BLE001
        if _memory(exc):
            return {"status": "failed", "message": "memory limit exceeded: "
                    f"{type(exc).__name__}: {str(exc)[:300]}"}
        tb = traceback.format_exc(limit=3)
        return {"status": "failed", "message": f"{type(exc).__name__}: {exc}\n{tb}"}
    return {"status": "passed" if result.passed else "failed",
            "message": f"{job['class_name']}: {result.message}"}


def main() -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    jobs = json.load(sys.stdin)
    out = []
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # user code may print
    try:
        for job in jobs:
            out.append(run(job))
    finally:
        sys.stdout = real_stdout
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
