"""Walk a source tree and classify each file before any parsing.

Bad input is data, not an exception: every odd file (binary, huge, undecodable, symlink,
unreadable) comes back as a :class:`Entry` with a one-line reason for the report.
"""

from __future__ import annotations

import io
import os
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["python", "notebook", "other", "symlink", "skip"]

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".mypy_cache",
             ".ruff_cache", ".pytest_cache", "node_modules", ".tox", ".k2l-cache"}
MAX_BYTES = 2_000_000
# Cheap pre-filter: a file that never mentions a framework costs no parse.
FRAMEWORK = re.compile(rb"\b(keras|tensorflow|tf_keras)\b")


@dataclass(frozen=True)
class Entry:
    path: Path  # absolute
    rel: str  # POSIX, relative to the root
    kind: Kind
    reason: str = ""
    link_target: str = ""


def walk(root: Path, exclude: Path | None = None) -> Iterator[Entry]:
    root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            full = here / d
            if d in SKIP_DIRS or (exclude is not None and full.resolve() == exclude):
                continue
            if full.is_symlink():
                yield _symlink(root, full)
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            full = here / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                yield _symlink(root, full)
            elif name.endswith(".py"):
                yield Entry(full, rel, "python")
            elif name.endswith(".ipynb"):
                yield Entry(full, rel, "notebook")
            else:
                yield Entry(full, rel, "other")


def _symlink(root: Path, link: Path) -> Entry:
    rel = link.relative_to(root).as_posix()
    target = os.readlink(link)
    resolved = (link.parent / target).resolve()
    try:
        resolved.relative_to(root)
    except ValueError:
        return Entry(link, rel, "skip", f"symlink to {target} outside the source tree: not "
                     "followed", target)
    return Entry(link, rel, "symlink", "symlink kept as a link", target)


@dataclass(frozen=True)
class Source:
    text: str | None
    reason: str = ""
    has_framework: bool = False
    encoding: str = "utf-8"


def read_bytes(path: Path, max_bytes: int = MAX_BYTES) -> bytes | str:
    """A file's bytes, or one line saying why they cannot be read."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return f"file too large ({size:,} bytes > {max_bytes:,}): not converted"
        return path.read_bytes()
    except PermissionError:
        return "permission denied: cannot read"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"


def read_python(path: Path, max_bytes: int = MAX_BYTES) -> Source:
    """Read a .py file, or say in one line why it cannot be converted."""
    data = read_bytes(path, max_bytes)
    if isinstance(data, str):
        return Source(None, data)
    if b"\0" in data:
        return Source(None, "binary content in a .py file: not converted")
    if not FRAMEWORK.search(data):
        return Source(None, "", has_framework=False)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        text = data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        return Source(None, f"cannot decode as Python source ({type(exc).__name__}): not converted")
    return Source(text, "", has_framework=True, encoding=encoding)
