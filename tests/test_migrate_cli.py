"""End-to-end `k2l-agent migrate` on a small tree with every kind of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app

MLP = '''\
from tensorflow import keras

model = keras.Sequential([
    keras.layers.Dense(16, activation="relu", input_shape=(8,)),
    keras.layers.Dense(3, activation="softmax"),
])
'''


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    src = tmp_path / "proj"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "mlp.py").write_text(MLP)
    (src / "util.py").write_text("import numpy as np\n\nprint(np.ones(2))\n")
    (src / "README.txt").write_text("not python\n")
    (src / "broken.py").write_text("import keras\ndef f(:\n    pass\n")
    (src / "binary.py").write_bytes(b"import keras\x00\x01\x02")
    (src / "latin1.py").write_bytes("# -*- coding: utf-8 -*-\nimport keras\nx = '\xe9'\n"
                                    .encode("latin-1"))
    (src / "huge.py").write_text("import keras\n" + "x = 1\n" * 400_000)
    os.symlink("/etc/hostname", src / "outside.py")
    os.symlink("pkg/mlp.py", src / "inside.py")
    return src


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_migrate_tree_reports_every_bad_input(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = _run("migrate", str(tree), "--out", str(out), "--no-validate")
    assert code == 1, output  # broken.py needs attention
    report = json.loads((out / "report.json").read_text())
    files = {f["path"]: f for f in report["files"]}
    assert files["pkg/mlp.py"]["status"] == "converted"
    assert files["util.py"]["status"] == "unchanged"
    assert files["broken.py"]["status"] == "failed"
    assert "syntax error" in files["broken.py"]["reason"]
    assert files["binary.py"]["status"] == "skipped" and "binary" in files["binary.py"]["reason"]
    assert files["latin1.py"]["status"] == "skipped" and "decode" in files["latin1.py"]["reason"]
    assert files["huge.py"]["status"] == "skipped" and "too large" in files["huge.py"]["reason"]
    assert files["outside.py"]["status"] == "skipped"
    assert "outside the source tree" in files["outside.py"]["reason"]
    assert files["inside.py"]["status"] == "skipped" and (out / "inside.py").is_symlink()
    # the output is a full copy; the original is untouched
    assert (out / "README.txt").read_text() == "not python\n"
    assert (out / "util.py").read_text() == (tree / "util.py").read_text()
    assert (tree / "pkg" / "mlp.py").read_text() == MLP
    converted = (out / "pkg" / "mlp.py").read_text()
    assert "keras" not in converted and "nn.Linear(8, 16)" in converted
    assert not (out / "outside.py").exists()
    assert report["summary"]["need_attention"] >= 1
    assert "Converted" in (out / "report.md").read_text()


def test_permission_error_reported_for_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreadable file (forced even as root by making the read itself fail)."""
    from agent import discover

    src = tmp_path / "p"
    src.mkdir()
    (src / "a.py").write_text("import keras\n")

    def deny(*args: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(discover.os, "open", deny)
    assert "permission denied" in discover.read_python(src / "a.py").reason


def test_diff_writes_nothing(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "never"
    code, output = _run("migrate", str(tree / "pkg"), "--diff", "--out", str(out))
    assert "+class MlpModel(pl.LightningModule):" in output  # named after mlp.py
    assert "-model = keras.Sequential([" in output
    assert not out.exists()
    assert code == 0


def test_in_place_needs_clean_git_or_force(tree: Path) -> None:
    code, output = _run("migrate", str(tree / "pkg"), "--in-place", "--no-validate")
    assert code == 2 and "not in a git work tree" in output
    code, _ = _run("migrate", str(tree / "pkg"), "--in-place", "--force", "--no-validate")
    assert code == 0
    assert "nn.Linear" in (tree / "pkg" / "mlp.py").read_text()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    code, _ = _run("migrate", str(tmp_path / "missing"))
    assert code == 2
    (tmp_path / "src").mkdir()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "precious.txt").write_text("mine")
    code, output = _run("migrate", str(tmp_path / "src"), "--out", str(tmp_path / "taken"))
    assert code == 2 and "not an earlier k2l-agent output" in output


def test_jobs_give_identical_output(tmp_path: Path) -> None:
    src = tmp_path / "many"
    src.mkdir()
    for i in range(6):
        (src / f"m{i}.py").write_text(MLP.replace("16", str(4 + i)))
    outs = []
    for jobs in ("1", "3"):
        out = tmp_path / f"out{jobs}"
        code, _ = _run("migrate", str(src), "--out", str(out), "--jobs", jobs, "--no-validate")
        assert code == 0
        outs.append({p.name: p.read_text() for p in sorted(out.glob("m*.py"))})
        report = json.loads((out / "report.json").read_text())
        report.pop("output")
        outs.append(report)
    assert outs[0] == outs[2] and outs[1] == outs[3]


def test_rerun_overwrites_previous_output(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run("migrate", str(tree / "pkg"), "--out", str(out), "--no-validate")
    code, _ = _run("migrate", str(tree / "pkg"), "--out", str(out), "--no-validate")
    assert code == 0


def test_atomic_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent import fsutil

    target = tmp_path / "f.py"
    target.write_text("old")

    def boom(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(fsutil.os, "fsync", boom)
    with pytest.raises(OSError):
        fsutil.write_atomic(target, b"new content")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.py"]


def test_console_script_runs(tree: Path, tmp_path: Path) -> None:
    """The installed entry point, as a user runs it (validation included)."""
    out = tmp_path / "o"
    proc = subprocess.run([sys.executable, "-m", "cli", "migrate", str(tree / "pkg"), "--out",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = {f["path"]: f for f in json.loads((out / "report.json").read_text())["files"]}
    checks = {c["name"]: c["status"] for c in files["mlp.py"]["checks"]}
    assert checks["ruff"] == "passed" and checks["mypy"] == "passed"
    assert checks["fast_dev_run"] == "passed"
    assert checks["equivalence"] == "passed", files["mlp.py"]["checks"]


def test_changed_only_converts_just_the_pr_files(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                       env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
                                GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"))

    git("init", "-q", "-b", "main")
    (repo / "old.py").write_text(MLP)
    git("add", ".")
    git("commit", "-qm", "base")
    git("checkout", "-qb", "feature")
    (repo / "new.py").write_text(MLP)
    git("add", ".")
    git("commit", "-qm", "pr")
    out = tmp_path / "out"
    code, output = _run("migrate", str(repo), "--out", str(out), "--changed-only", "main",
                        "--no-validate")
    assert code == 0, output
    paths = {f["path"] for f in json.loads((out / "report.json").read_text())["files"]}
    assert "new.py" in paths and "old.py" not in paths
    code, output = _run("migrate", str(repo), "--out", str(tmp_path / "o2"), "--changed-only",
                        "no-such-ref", "--no-validate")
    assert code == 2
