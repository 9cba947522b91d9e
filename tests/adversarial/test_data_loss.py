"""Sources are never lost: --out over or inside SRC, --in-place outside git, ``migrate .``.

Each case runs the real CLI in a child process and checks that every source file is
byte-identical afterwards and that nothing was written outside the output directory.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from adversarial.robust_harness import MODEL, k2l, outside, snapshot


def _src(tmp_path: Path) -> Path:
    src = tmp_path / "proj"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "model.py").write_text(MODEL)
    (src / "notes.txt").write_text("mine\n")
    return src


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                   check=True, capture_output=True)


def test_out_equal_to_src_is_refused_even_with_a_report_json(tmp_path: Path) -> None:
    src = _src(tmp_path)
    (src / "report.json").write_text(json.dumps({"source": str(src)}))
    before = snapshot(tmp_path)
    for extra in ((), ("--force",)):
        run = k2l("migrate", str(src), "--out", str(src), "--no-llm", "--no-validate", *extra)
        assert run.code == 2 and not run.traceback and "overwrite the sources" in run.stderr
    assert snapshot(tmp_path) == before


def test_out_containing_src_is_refused(tmp_path: Path) -> None:
    src = _src(tmp_path)
    before = snapshot(tmp_path)
    run = k2l("migrate", str(src), "--out", str(tmp_path), "--no-llm", "--no-validate",
              "--force")
    assert run.code == 2 and not run.traceback and "inside --out" in run.stderr
    assert snapshot(tmp_path) == before


def test_out_inside_src_only_when_it_is_an_earlier_output_of_src(tmp_path: Path) -> None:
    src = _src(tmp_path)
    other = _src(tmp_path / "elsewhere")
    inner = src / "converted"
    before = snapshot(tmp_path)
    run = k2l("migrate", str(src), "--out", str(inner), "--no-llm", "--no-validate")
    assert run.code == 2 and "inside the source" in run.stderr
    assert snapshot(tmp_path) == before
    # an output that records another source is not ours to overwrite
    inner.mkdir()
    (inner / "report.json").write_text(json.dumps({"source": str(other)}))
    (inner / "keep.txt").write_text("x")
    run = k2l("migrate", str(src), "--out", str(inner), "--no-llm", "--no-validate")
    assert run.code == 2 and "not an earlier output" in run.stderr
    # --force may create a new, empty output inside SRC; reruns then reuse it
    (inner / "report.json").unlink()
    (inner / "keep.txt").unlink()
    sources = {k: v for k, v in snapshot(src).items() if not k.startswith("converted")}
    for _ in range(2):
        run = k2l("migrate", str(src), "--out", str(inner), "--no-llm", "--no-validate",
                  "--force")
        assert run.code == 0 and not run.traceback, run.stderr
        assert (inner / "pkg" / "model.py").read_text() != MODEL
        assert not (inner / "converted").exists()  # the output is never converted again
    run = k2l("migrate", str(src), "--out", str(inner), "--no-llm", "--no-validate")
    assert run.code == 0, run.stderr  # recognised without --force
    assert {k: v for k, v in snapshot(src).items() if not k.startswith("converted")} == sources


def test_migrate_dot_writes_beside_the_source(tmp_path: Path) -> None:
    src = _src(tmp_path)
    before = snapshot(tmp_path)
    run = k2l("migrate", ".", "--no-llm", "--no-validate", cwd=src)
    assert run.code == 0 and not run.traceback, run.stderr
    after = snapshot(tmp_path)
    assert outside(before, after, "proj-k2l") == []
    assert "nn.Linear" in (tmp_path / "proj-k2l" / "pkg" / "model.py").read_text()
    run = k2l("migrate", ".", "--no-llm", "--no-validate", cwd=src)  # a rerun reuses it
    assert run.code == 0 and not run.traceback, run.stderr
    assert not (src / "-k2l").exists()


def test_in_place_refuses_a_directory_outside_git(tmp_path: Path) -> None:
    src = _src(tmp_path)
    before = snapshot(tmp_path)
    run = k2l("migrate", str(src), "--in-place", "--no-llm", "--no-validate")
    assert run.code == 2 and "git" in run.stderr and not run.traceback
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case", ["ignored", "untracked", "modified"])
def test_in_place_only_rewrites_tracked_unmodified_files(tmp_path: Path, case: str) -> None:
    src = _src(tmp_path)
    _git(src, "init", "-q")
    if case == "ignored":
        (src / ".gitignore").write_text("pkg/\n")
    _git(src, "add", "-A")
    _git(src, "commit", "-qm", "init")
    if case == "untracked":
        (src / "new.py").write_text(MODEL)
        _git(src, "update-index", "--refresh")
        (src / ".git" / "info" / "exclude").write_text("new.py\n")  # hidden from status
    if case == "modified":
        (src / "pkg" / "model.py").write_text(MODEL + "\n# edited\n")
        _git(src, "update-index", "--assume-unchanged", "pkg/model.py")  # hidden from status
    target = src / "pkg" if case == "ignored" else src
    before = snapshot(tmp_path)
    run = k2l("migrate", str(target), "--in-place", "--no-llm", "--no-validate")
    assert run.code == 2 and not run.traceback, run.stdout + run.stderr
    assert "git cannot restore" in run.stderr
    assert snapshot(tmp_path) == before
    run = k2l("migrate", str(target), "--in-place", "--force", "--no-llm", "--no-validate")
    assert run.code == 0 and not run.traceback, run.stderr


def test_in_place_on_a_clean_git_tree_rewrites(tmp_path: Path) -> None:
    src = _src(tmp_path)
    _git(src, "init", "-q")
    _git(src, "add", "-A")
    _git(src, "commit", "-qm", "init")
    run = k2l("migrate", str(src), "--in-place", "--no-llm", "--no-validate")
    assert run.code == 0 and not run.traceback, run.stderr
    assert "nn.Linear" in (src / "pkg" / "model.py").read_text()


def test_report_path_never_overwrites_a_source_file(tmp_path: Path) -> None:
    src = _src(tmp_path)
    (src / "pkg" / "notes.md").write_text("# my notes\n")
    (src / "pkg" / "notes.json").write_text('{"mine": 1}\n')
    before = snapshot(src)
    run = k2l("migrate", str(src), "--out", str(tmp_path / "o"), "--report",
              str(src / "pkg" / "notes.md"), "--no-llm", "--no-validate")
    assert run.code == 2 and not run.traceback and "would overwrite" in run.stderr
    assert snapshot(src) == before
    # a new report file inside SRC, or an earlier report there, is fine
    for _ in range(2):
        run = k2l("migrate", str(src), "--out", str(tmp_path / "o"), "--report",
                  str(src / "k2l-report.md"), "--no-llm", "--no-validate")
        assert run.code == 0 and not run.traceback, run.stderr
    assert json.loads((src / "k2l-report.json").read_text())["tool"] == "k2l-agent"


def test_out_path_over_the_os_limit_is_a_usage_error(tmp_path: Path) -> None:
    src = _src(tmp_path)
    run = k2l("migrate", str(src), "--out", str(tmp_path / ("x" * 300)), "--no-llm",
              "--no-validate")
    assert run.code == 2 and not run.traceback, run.stderr
    assert "too long" in run.stderr.lower()


def test_single_file_source_writes_beside_it_never_over_it(tmp_path: Path) -> None:
    src = _src(tmp_path)
    model = src / "pkg" / "model.py"
    before = snapshot(tmp_path)
    for extra in ((), ("--force",)):
        run = k2l("migrate", str(model), "--out", str(src / "pkg"), "--no-llm",
                  "--no-validate", *extra)
        assert run.code == 2 and not run.traceback and "overwrite" in run.stderr
    assert snapshot(tmp_path) == before
    run = k2l("migrate", "model.py", "--no-llm", "--no-validate", cwd=src / "pkg")
    assert run.code == 0 and not run.traceback, run.stderr
    assert "nn.Linear" in (src / "pkg" / "model.py-k2l" / "model.py").read_text()
    assert model.read_text() == MODEL
