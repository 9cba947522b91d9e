"""Shared by the robustness tests: run the real CLI in a child process, bounded in time, and
look at the file system around it without opening anything odd (FIFOs, sockets)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

MODEL = '''\
from tensorflow import keras

model = keras.Sequential([
    keras.layers.Dense(4, activation="relu", input_shape=(3,)),
    keras.layers.Dense(2),
])
'''


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.stdout + self.stderr


def k2l(*args: str, cwd: Path | None = None, timeout: float = 120.0) -> Run:
    """``k2l-agent ARGS`` in a new process group, killed whole if it outlives ``timeout``."""
    env = dict(os.environ, KERAS_BACKEND="torch", CI="1")
    proc = subprocess.Popen([sys.executable, str(REPO / "cli.py"), *args], cwd=cwd or REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"k2l-agent {' '.join(args)} hung for {timeout:.0f} s") from None
    return Run(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def snapshot(root: Path) -> dict[str, tuple[str, bytes]]:
    """Every entry under ``root`` (bytes paths, nothing followed): kind and content.

    Regular files by content, links by target, anything else only by its kind.
    """
    out: dict[str, tuple[str, bytes]] = {}
    base = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        for name in [*dirnames, *filenames]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, base).decode("utf-8", "surrogateescape")
            try:
                st = os.lstat(full)
            except OSError:  # e.g. a path longer than PATH_MAX
                out[rel] = ("unreachable", b"")
                continue
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(full))
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as fh:
                    out[rel] = ("file", fh.read())
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", b"")
            else:
                out[rel] = ("special", b"")
    return out


def outside(before: dict[str, tuple[str, bytes]], after: dict[str, tuple[str, bytes]],
            *allowed: str) -> list[str]:
    """Entries created or changed in ``after`` that lie under none of ``allowed`` prefixes."""
    return sorted(rel for rel, v in after.items() if before.get(rel) != v
                  and not any(rel == a or rel.startswith(a + "/") for a in allowed))
