"""SIGINT/SIGTERM: workers stop, a report of what was done is written, the exit code is
128 + signal, and the same command run again finishes into the same --out.

The runs are real CLI processes; the signal is sent once the run is provably in the phase
under test (worker processes exist; the converted files are written and checks run).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from adversarial.robust_harness import MODEL, REPO, k2l, outside, snapshot


def _children(pid: int) -> set[int]:
    """All live descendants of ``pid`` (from /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except OSError:
                continue
            for k in kids:
                if k not in found:
                    found.add(k)
                    todo.append(k)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace")[:200]
    except OSError:
        return "?"


def _start(*args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, KERAS_BACKEND="torch", CI="1")
    return subprocess.Popen([sys.executable, str(REPO / "cli.py"), *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _wait_for(cond: object, proc: subprocess.Popen[bytes], limit: float) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if callable(cond) and cond():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("the run never reached the phase under test")


def _finish(proc: subprocess.Popen[bytes], limit: float = 30.0) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("the run did not stop after the signal") from None
    return proc.returncode, err.decode("utf-8", "replace")


def _many_models(n: int) -> str:
    parts = ["from tensorflow import keras\n"]
    for k in range(n):
        parts.append(f"\n\ndef build_{k}():\n    return keras.Sequential([\n"
                     f"        keras.Input(shape=({k % 7 + 2},)),\n"
                     f"        keras.layers.Dense({k % 5 + 3}, activation=\"relu\"),\n"
                     "        keras.layers.Dense(1),\n    ])\n")
    return "".join(parts)


def test_sigterm_while_converting_with_two_jobs(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for k in range(6):
        (src / f"big{k}.py").write_text(_many_models(150 + k))
    (src / "notes.txt").write_text("mine\n")
    before = snapshot(tmp_path)
    proc = _start("migrate", str(src), "--out", str(out), "--jobs", "2", "--no-llm",
                  "--no-validate")
    _wait_for(lambda: len(_children(proc.pid)) >= 2, proc, 120)
    workers = _children(proc.pid)
    time.sleep(0.5)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code, err = _finish(proc)
    assert code == 143, err
    assert time.monotonic() - started < 20
    assert "Traceback" not in err
    assert not any(_alive(p) for p in workers), "worker processes outlived the run"
    report = json.loads((out / "report.json").read_text())
    assert "INTERRUPTED by SIGTERM while converting" in report["notes"][0]
    assert {f["path"] for f in report["files"]} == {f"big{k}.py" for k in range(6)} | \
        {"notes.txt"}
    assert all(f["status"] == "skipped" for f in report["files"])
    after = snapshot(tmp_path)
    assert outside(before, after, "out") == []
    # the same command again: accepted (not "not an earlier output") and completed
    run = k2l("migrate", str(src), "--out", str(out), "--jobs", "2", "--no-llm",
              "--no-validate", timeout=300)
    assert run.code == 0 and not run.traceback, run.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["converted"] == 6
    assert {k: v for k, v in snapshot(src).items()} == \
        {k[len("src/"):]: v for k, v in before.items() if k.startswith("src/")}


def test_sigint_while_validating_reports_what_was_written(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "a.py").write_text(MODEL)
    (src / "b.py").write_text(MODEL.replace("(4,", "(5,"))
    before = snapshot(tmp_path)
    proc = _start("migrate", str(src), "--out", str(out), "--no-llm")
    _wait_for(lambda: (out / "b.py").exists() and bool(_children(proc.pid)), proc, 120)
    checkers = _children(proc.pid)
    proc.send_signal(signal.SIGINT)
    code, err = _finish(proc)
    assert code == 130, err
    assert "Traceback" not in err and "report of what was done" in err
    time.sleep(0.5)
    left = [_cmdline(p) for p in checkers if _alive(p)]
    assert not left, f"check processes outlived the run: {left}"
    report = json.loads((out / "report.json").read_text())
    assert "INTERRUPTED by SIGINT while validating: 2 of 2 files written" in report["notes"][0]
    assert {f["path"]: f["status"] for f in report["files"]} == {"a.py": "converted",
                                                                 "b.py": "converted"}
    assert "nn.Linear(3, 4)" in (out / "a.py").read_text()
    assert outside(before, snapshot(tmp_path), "out") == []
    assert not list(out.glob(".*.k2l-tmp"))  # no half-written file
