"""The equivalence job (Keras original vs conversion) under the sandbox's limits: a builder
that asks for 20 GB or never returns is reported with that reason, and nothing hangs."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.pipeline import run_equivalence_jobs
from agent.sandbox import resolve

GREEDY_BUILDER = '''\
def build():
    buffer = bytearray(20 * 2**30)
    return buffer
'''

SPINNING_BUILDER = '''\
def build():
    while True:
        pass
'''

FINE_BUILDER = '''\
import keras


def build():
    return keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
'''


def _job(original: Path, converted: Path) -> dict[str, str]:
    return {"original": str(original), "converted": str(converted), "class_name": "build",
            "var": "", "function": "build", "original_code": ""}


@pytest.mark.slow
def test_20_gb_builders_hit_the_memory_limit(tmp_path: Path) -> None:
    (tmp_path / "greedy.py").write_text(GREEDY_BUILDER)
    (tmp_path / "fine.py").write_text(FINE_BUILDER)
    jobs = [_job(tmp_path / "greedy.py", tmp_path / "greedy.py"),  # the original is greedy
            _job(tmp_path / "fine.py", tmp_path / "greedy.py")]  # the conversion is greedy
    answers, why, _ = run_equivalence_jobs(jobs, resolve("auto"), read_paths=(tmp_path,),
                                           timeout_s=120)
    assert answers is not None, why
    assert answers[0]["status"] == "not_run"
    assert answers[0]["message"].startswith("memory limit exceeded while building the original")
    assert answers[1]["status"] == "failed"
    assert answers[1]["message"].startswith("memory limit exceeded")


@pytest.mark.slow
def test_a_builder_that_never_returns_hits_the_time_limit(tmp_path: Path) -> None:
    (tmp_path / "spin.py").write_text(SPINNING_BUILDER)
    answers, why, seconds = run_equivalence_jobs(
        [_job(tmp_path / "spin.py", tmp_path / "spin.py")], resolve("auto"),
        read_paths=(tmp_path,), timeout_s=15)
    assert answers is None
    assert why == "equivalence job stopped: time limit exceeded"
    assert seconds < 60
