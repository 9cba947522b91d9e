"""Run a converted script as ``__main__`` with keras and tensorflow unimportable, one
fast_dev_run batch: what a user without TensorFlow gets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None;"
           " runpy.run_path(sys.argv[1], run_name='__main__')")


def run_without_tf(source: str, workdir: Path, env: dict[str, str] | None = None,
                   fast_dev_run: bool = True) -> subprocess.CompletedProcess[str]:
    """``source`` written to ``workdir/train.py`` and run there (``PL_TRAINER_FAST_DEV_RUN``
    unless ``fast_dev_run`` is False: a test counting epochs trains them all; ``env``: more
    variables, such as the data's folder)."""
    script = workdir / "train.py"
    script.write_text(source, encoding="utf-8")
    variables = {k: v for k, v in os.environ.items() if k != "PL_TRAINER_FAST_DEV_RUN"}
    if fast_dev_run:
        variables["PL_TRAINER_FAST_DEV_RUN"] = "1"
    return subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                          text=True, timeout=300, check=False, cwd=workdir,
                          env={**variables, **(env or {})})
