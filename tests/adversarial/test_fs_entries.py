"""Odd file-system entries: each is one report line; nothing hangs, nothing is lost.

Each case builds its own small tree beside one ordinary Keras file, runs the real CLI in a
child process under a timeout, and checks: no traceback, the ordinary file still converts,
the sources are byte-identical afterwards, nothing is written outside --out.
"""

from __future__ import annotations

import ast
import io
import json
import os
import socket
import stat
import tokenize
from collections.abc import Callable
from pathlib import Path

import pytest

from adversarial.robust_harness import MODEL, k2l, outside, snapshot


def _migrate(tmp_path: Path, *extra: str, timeout: float = 120.0) -> tuple[dict, Path]:  # type: ignore[type-arg]
    src, out = tmp_path / "src", tmp_path / "out"
    before = snapshot(tmp_path)
    run = k2l("migrate", str(src), "--out", str(out), "--no-llm", *extra, timeout=timeout)
    assert not run.traceback, run.stderr
    assert run.code in (0, 1), run.stdout + run.stderr
    after = snapshot(tmp_path)
    assert outside(before, after, "out") == []
    assert {k: v for k, v in after.items() if k.startswith("src")} == \
        {k: v for k, v in before.items() if k.startswith("src")}
    report = json.loads((out / "report.json").read_text())
    files = {f["path"]: f for f in report["files"]}
    assert files["model.py"]["status"] == "converted"
    assert (out / "report.md").read_text(encoding="utf-8")
    return files, out


def _tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "model.py").write_text(MODEL)
    return src


def test_symlink_loops_are_reported_not_followed(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    os.symlink("b.py", src / "a.py")
    os.symlink("a.py", src / "b.py")
    os.symlink("self", src / "self")
    (src / "pkg").mkdir()
    os.symlink("..", src / "pkg" / "up")  # a directory link back up: not walked
    files, out = _migrate(tmp_path, "--no-validate")
    for rel in ("a.py", "b.py", "self"):
        assert files[rel]["status"] == "skipped" and "loop" in files[rel]["reason"], files[rel]
        assert not os.path.lexists(out / rel)
    assert files["pkg/up"]["status"] == "skipped"
    assert (out / "pkg" / "up").is_symlink()  # a link inside the tree stays a link


def test_fifo_is_never_opened(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    os.mkfifo(src / "pipe.py")
    os.mkfifo(src / "data.txt")
    files, out = _migrate(tmp_path, "--no-validate", timeout=60)
    for rel in ("pipe.py", "data.txt"):
        assert files[rel]["status"] == "skipped" and "FIFO" in files[rel]["reason"]
        assert not os.path.lexists(out / rel)


def test_fifo_given_as_the_source_is_a_usage_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.py")
    run = k2l("migrate", str(tmp_path / "x.py"), "--no-llm", "--no-validate", timeout=60)
    assert run.code == 2 and not run.traceback and "regular file" in run.stderr


def test_socket_is_reported(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(src / "s.py"))
        files, out = _migrate(tmp_path, "--no-validate", timeout=60)
    finally:
        sock.close()
    assert files["s.py"]["status"] == "skipped" and "socket" in files["s.py"]["reason"]


def test_device_node_is_reported(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    try:
        os.mknod(src / "null.py", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("cannot create a device node here")
    files, _ = _migrate(tmp_path, "--no-validate", timeout=60)
    assert files["null.py"]["status"] == "skipped"
    assert "device" in files["null.py"]["reason"]


def test_name_that_is_not_utf8_breaks_neither_checks_nor_report(tmp_path: Path) -> None:
    """With validation on: mypy and the rest still pass for the ordinary file."""
    src = _tree(tmp_path)
    bad = os.path.join(os.fsencode(src), b"caf\xe9.py")
    with open(bad, "wb") as fh:
        fh.write(MODEL.encode())
    bad_dir = os.path.join(os.fsencode(src), b"d\xff")
    os.mkdir(bad_dir)
    with open(os.path.join(bad_dir, b"m.py"), "wb") as fh:
        fh.write(MODEL.encode())
    files, out = _migrate(tmp_path, timeout=300)
    checks = {c["name"]: c["status"] for c in files["model.py"]["checks"]}
    assert checks["mypy"] == "passed" and checks["ruff"] == "passed", checks
    for shown in ("caf\\xe9.py", "d\\xff/m.py"):
        assert files[shown]["status"] == "skipped" and "UTF-8" in files[shown]["reason"]
    # copied byte for byte, never converted
    with open(os.path.join(os.fsencode(out), b"caf\xe9.py"), "rb") as fh:
        assert fh.read() == MODEL.encode()
    with open(os.path.join(os.fsencode(out), b"d\xff", b"m.py"), "rb") as fh:
        assert fh.read() == MODEL.encode()
    assert "caf\\xe9.py" in (out / "report.md").read_text(encoding="utf-8")


def _deep(base: Path, depth: int, name: str) -> bytes:
    """A directory chain longer than PATH_MAX, made relative to each parent's descriptor."""
    fd = os.open(base, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            nxt = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        leaf = os.open("deep.py", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, MODEL.encode())
        os.close(leaf)
    finally:
        os.close(fd)
    return os.fsencode(base / name)


def test_over_long_path_is_one_report_line(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    _deep(src, 24, "d" * 200)  # 24 * 201 bytes > PATH_MAX (4096)
    files, _ = _migrate(tmp_path, "--no-validate")
    too_long = [f for f in files.values() if "too long" in f["reason"].lower()]
    assert len(too_long) == 1 and too_long[0]["status"] == "skipped", files


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any directory")
def test_unreadable_directory_is_listed(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    (src / "locked").mkdir()
    (src / "locked" / "m.py").write_text(MODEL)
    os.chmod(src / "locked", 0)
    try:
        files, _ = _migrate(tmp_path, "--no-validate")
    finally:
        os.chmod(src / "locked", 0o755)
    assert files["locked"]["status"] == "skipped"
    assert "cannot list directory" in files["locked"]["reason"]


def _decoded(path: Path) -> str:
    data = path.read_bytes()
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)


@pytest.mark.parametrize("name,make,check", [
    ("latin1.py",
     lambda: ("# -*- coding: latin-1 -*-\n" + MODEL + "LABEL = 'caf\xe9'\n").encode("latin-1"),
     lambda data: data.startswith(b"# -*- coding: latin-1 -*-\n") and b"caf\xe9" in data),
    ("crlf.py", lambda: MODEL.replace("\n", "\r\n").encode(),
     lambda data: data.count(b"\r\n") == data.count(b"\n") > 5),
    ("bom.py", lambda: b"\xef\xbb\xbf" + (MODEL + "LABEL = 'caf\xe9'\n").encode(),
     lambda data: data.startswith(b"\xef\xbb\xbf") and data.count(b"\xef\xbb\xbf") == 1),
])
def test_encodings_and_line_endings_round_trip(tmp_path: Path, name: str,
                                               make: Callable[[], bytes],
                                               check: Callable[[bytes], bool]) -> None:
    src = _tree(tmp_path)
    (src / name).write_bytes(make())
    files, out = _migrate(tmp_path, "--no-validate")
    assert files[name]["status"] == "converted"
    data = (out / name).read_bytes()
    assert check(data), data[:200]
    text = _decoded(out / name)
    ast.parse(data)  # the bytes compile as Python, coding line honoured
    assert "nn.Linear(3, 4)" in text and "keras" not in text
    if "LABEL" in make().decode("latin-1"):
        assert "caf\xe9" in text


def test_directory_that_cannot_be_listed_is_an_entry(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Forced even as root: listing one directory fails the way EACCES does."""
    from agent import discover

    src = _tree(tmp_path)
    (src / "locked").mkdir()
    (src / "locked" / "m.py").write_text(MODEL)
    real = os.scandir

    def scandir(path: object = ".") -> object:
        if os.fspath(path).endswith("locked"):  # type: ignore[call-overload]
            raise PermissionError(13, "Permission denied", os.fspath(path))  # type: ignore[call-overload]
        return real(path)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "scandir", scandir)
    entries = {e.rel: e for e in discover.walk(src)}
    assert entries["locked"].kind == "skip"
    assert entries["locked"].reason.startswith("cannot list directory: Permission denied")
    assert entries["model.py"].kind == "python" and "locked/m.py" not in entries
