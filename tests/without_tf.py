"""Run a converted script as ``__main__`` with keras and tensorflow unimportable, one
fast_dev_run batch: what a user without TensorFlow gets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None;"
           " runpy.run_path(sys.argv[1], run_name='__main__')")


def run_without_tf(source: str, workdir: Path, env: dict[str, str] | None = None
                   ) -> subprocess.CompletedProcess[str]:
    """``source`` written to ``workdir/train.py`` and run there (``PL_TRAINER_FAST_DEV_RUN``;
    ``env``: more variables, such as the data's folder)."""
    script = workdir / "train.py"
    script.write_text(source, encoding="utf-8")
    return subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                          text=True, timeout=300, check=False, cwd=workdir,
                          env={**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1", **(env or {})})
