"""Walk a source tree and classify each file before any parsing.

Bad input is data, not an exception: every odd file (binary, huge, undecodable, symlink,
unreadable) comes back as a :class:`Entry` with a one-line reason for the report.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# python / notebook: read and maybe convert; other: copied; symlink: recreated as a link;
# copy: copied but not converted, with a report line (a name that is not UTF-8); skip: left
# out, one line
Kind = Literal["python", "notebook", "other", "symlink", "copy", "skip"]

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".mypy_cache",
             ".ruff_cache", ".pytest_cache", "node_modules", ".tox", ".k2l-cache"}
MAX_BYTES = 2_000_000
# Cheap pre-filter: a file that never mentions a framework costs no parse.
FRAMEWORK = re.compile(rb"\b(keras|tensorflow|tf_keras)\b")
_SPECIAL = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
            (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


@dataclass(frozen=True)
class Entry:
    path: Path  # absolute
    rel: str  # POSIX, relative to the root; may hold surrogates (see display_name)
    kind: Kind
    reason: str = ""
    link_target: str = ""

    @property
    def name(self) -> str:
        """``rel`` printable and UTF-8 encodable, for the report."""
        return display_name(self.rel)


def display_name(rel: str) -> str:
    """A file name that is not UTF-8 (``os.fsdecode`` surrogates) with its bad bytes escaped."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def walk(root: Path, exclude: Path | None = None) -> Iterator[Entry]:
    """Every entry under ``root``, in a stable order; nothing odd is opened or followed.

    A directory that cannot be listed is an entry too (os.walk would drop it silently).
    """
    root = root.resolve()
    unlisted: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=unlisted.append,
                                                followlinks=False):
        yield from _unlisted(root, unlisted)
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            full = here / d
            if d in SKIP_DIRS or (exclude is not None and full == exclude):
                continue
            entry = _classify(root, full)
            if entry is not None:
                yield entry
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            entry = _classify(root, here / name)
            if entry is not None:
                yield entry
            elif not _utf8(str(here / name)):
                yield _entry(root, here / name, "copy", "file name is not valid UTF-8: copied "
                             "unchanged, not converted")
            elif name.endswith(".py"):
                yield _entry(root, here / name, "python")
            elif name.endswith(".ipynb"):
                yield _entry(root, here / name, "notebook")
            else:
                yield _entry(root, here / name, "other")
    yield from _unlisted(root, unlisted)


def _entry(root: Path, full: Path, kind: Kind, reason: str = "", target: str = "") -> Entry:
    return Entry(full, full.relative_to(root).as_posix(), kind, reason, target)


def _unlisted(root: Path, errors: list[OSError]) -> Iterator[Entry]:
    while errors:
        exc = errors.pop(0)
        full = Path(exc.filename) if exc.filename else root
        try:
            rel = full.relative_to(root).as_posix()
        except ValueError:
            rel = full.as_posix()
        yield Entry(full, rel, "skip", f"cannot list directory: {exc.strerror or exc}: "
                    "its files are not converted nor copied")


def _classify(root: Path, full: Path) -> Entry | None:
    """A skip or symlink entry for anything that is not a plain file or directory; None for
    the ordinary case. Uses lstat only: nothing is opened."""
    try:
        st = os.lstat(full)
    except OSError as exc:
        return _entry(root, full, "skip", f"cannot stat: {exc.strerror or exc}")
    if stat.S_ISLNK(st.st_mode):
        return _symlink(root, full)
    for test, what in _SPECIAL:
        if test(st.st_mode):
            return _entry(root, full, "skip", f"{what}: not opened, not copied")
    return None


def _symlink(root: Path, link: Path) -> Entry:
    try:
        target = os.readlink(link)
        resolved = (link.parent / target).resolve(strict=False)
    except RuntimeError:  # Python < 3.13 on a loop
        return _entry(root, link, "skip", "symlink loop: not followed")
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return _entry(root, link, "skip", "symlink loop: not followed")
        return _entry(root, link, "skip", f"unreadable symlink: {exc.strerror or exc}")
    try:
        resolved.relative_to(root)
    except ValueError:
        return _entry(root, link, "skip", f"symlink to {display_name(target)} outside the "
                      "source tree: not followed", target)
    if _loops(link):
        return _entry(root, link, "skip", "symlink loop: not followed")
    return _entry(root, link, "symlink", "symlink kept as a link", target)


def _loops(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


@dataclass(frozen=True)
class Source:
    text: str | None
    reason: str = ""
    has_framework: bool = False
    encoding: str = "utf-8"


def read_bytes(path: Path, max_bytes: int = MAX_BYTES) -> bytes | str:
    """A file's bytes, or one line saying why they cannot be read.

    Opened non-blocking and checked with fstat before any read: a FIFO or device that
    slipped past :func:`walk` (or is given as SRC) is reported, never waited on.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except PermissionError:
        return "permission denied: cannot read"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file: not read"
        if st.st_size > max_bytes:
            return f"file too large ({st.st_size:,} bytes > {max_bytes:,}): not converted"
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        return f"file too large (> {max_bytes:,} bytes): not converted"
    return data


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


_CODING = re.compile(r"^([ \t\f]*#.*?coding[:=][ \t]*)([-\w.]+)", re.MULTILINE)


def encode_source(text: str, original: str | None, encoding: str) -> bytes:
    """``text`` as bytes the way its original was stored: same encoding (BOM included, as
    ``utf-8-sig``) and, for a file that used CRLF throughout, CRLF throughout.

    Generated code is written with ``\\n``; a CRLF file would otherwise come out mixed. When
    the converted text cannot be stored in the original encoding, it is written as UTF-8 and
    a PEP 263 coding line in the first two lines is updated to say so.
    """
    if original is not None and "\r\n" in original and \
            original.count("\r\n") == original.count("\n"):
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    try:
        return text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        pass
    head = text.split("\n", 2)
    for k in range(min(2, len(head))):
        head[k] = _CODING.sub(lambda m: m.group(1) + "utf-8", head[k], count=1)
    return "\n".join(head).encode("utf-8")
