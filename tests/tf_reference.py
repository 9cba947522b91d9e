"""Keras on TensorFlow as a test's reference, in its own process: layers such as Hashing and
IntegerLookup need TensorFlow, which the main environment lacks (``make tf-venv``, named by
``K2L_TEST_TF_PYTHON``). Without it the calling test is skipped, never passed."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest


def tf_json(script: str) -> Any:
    """The JSON ``script`` prints on its last line, run by the TensorFlow Python with Keras on
    TensorFlow."""
    python = os.environ.get("K2L_TEST_TF_PYTHON", "")
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON)")
    done = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                               "KERAS_BACKEND": "tensorflow"}, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
