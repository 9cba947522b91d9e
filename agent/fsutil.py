"""Atomic file writes: an interrupted run never leaves a half-written file."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def _replace_via_temp(dst: Path, fill: Callable[[int, str], None]) -> None:
    """Create a temp file beside ``dst``, let ``fill`` write it, then rename it over ``dst``."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".k2l-tmp", dir=dst.parent)
    try:
        fill(fd, tmp)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    def fill(fd: int, tmp: str) -> None:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)

    _replace_via_temp(path, fill)


def copy_atomic(src: Path, dst: Path) -> None:
    def fill(fd: int, tmp: str) -> None:
        os.close(fd)
        shutil.copy2(src, tmp)

    _replace_via_temp(dst, fill)


def link(dst: Path, target: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    os.symlink(target, dst)
