"""SIGINT and SIGTERM as an exception the pipeline can stop on cleanly.

The handler raises :class:`Interrupted` in the main thread. It derives from BaseException,
like KeyboardInterrupt, so the per-file ``except Exception`` guards let it through, while
``finally`` blocks (temp files, worker pools, child processes) still run. Worker processes
ignore SIGINT (a terminal sends it to the whole process group): the parent stops them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The run was stopped by a signal; ``exit_code`` is the shell's 128 + signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM raise :class:`Interrupted` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _raise) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextmanager
def signals_held() -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM are ignored: the partial report is being written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def ignore_in_worker() -> None:
    """Pool initializer: a worker leaves SIGINT to its parent, and dies on SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _children() -> list[int]:
    """This process's direct children (Linux /proc; elsewhere none are known)."""
    pids: list[int] = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return pids
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children", encoding="ascii") as fh:
                pids += [int(p) for p in fh.read().split()]
        except (OSError, ValueError):
            continue
    return pids


def stop_children() -> None:
    """After an interrupt: kill every process this one started and is still running, with
    its process group when it leads one (the check worker does). A signal can land while a
    child is being spawned, before anyone holds its handle to stop it later."""
    for pid in _children():
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(pid, 0)
