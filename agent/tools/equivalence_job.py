"""Subprocess entry for the equivalence check of ``migrate``: Keras is imported once per run.

Always started through ``agent/sandbox.py`` (``pipeline.run_equivalence_jobs``), which sets
its memory, CPU and process limits. Input (stdin, JSON): a list of jobs {original, converted,
class_name, var, function, original_code}. Output (stdout, JSON): one {status, message} per
job. A job whose original cannot be built offline is ``not_run`` with the reason, never a
failure; an allocation past the memory limit says "memory limit exceeded".
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from agent.sandbox import memory_hit


def _original(job: dict[str, Any]) -> Any:
    from agent.tools.module_loader import load_definitions

    module = load_definitions(Path(job["original"]))
    if job["function"]:
        return getattr(module, job["function"])()
    ns = dict(module.__dict__)
    exec(compile(job["original_code"], job["original"], "exec"), ns)
    return ns[job["var"]]


def _converted(job: dict[str, Any]) -> Any:
    from agent.tools.module_loader import load_definitions

    module = load_definitions(Path(job["converted"]))
    if job["function"]:
        return getattr(module, job["function"])()
    return getattr(module, job["class_name"])()


def _memory(exc: BaseException) -> bool:
    """RLIMIT_AS (set by agent/sandbox.py) surfaces as MemoryError or torch's allocator error."""
    return isinstance(exc, MemoryError) or memory_hit(str(exc))


def run(job: dict[str, Any]) -> dict[str, str]:
    from agent.equivalence import compare

    try:
        original = _original(job)
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
    try:
        import keras  # noqa: F401

        from agent.tf_shim import install

        install()
    except ImportError:
        json.dump([{"status": "not_run", "message": "keras is not installed (pip install "
                    "'k2l-agent[keras]')"} for _ in jobs], sys.stdout)
        return
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
