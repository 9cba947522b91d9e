"""Exit codes tell (issue 16, item 7): 1 whenever a file was skipped, something failed, or a
check did not run for a reason other than ``--no-validate``; 0 only when all is done."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from agent.records import CheckResult, FileResult, Report
from agent.report import exit_code, exit_reasons
from cli import app

CLEAN = '''\
from tensorflow import keras

model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
'''


def _report(*files: FileResult) -> Report:
    return Report("src", "out", files)


def test_all_passed_is_zero_and_each_gap_is_one() -> None:
    passed = (CheckResult("ruff", "passed"), CheckResult("equivalence", "passed"))
    assert exit_code(_report(FileResult("a.py", "converted", checks=passed))) == 0
    assert exit_code(_report(FileResult("notes.txt", "unchanged"))) == 0
    skipped = FileResult("big.py", "skipped", "file is over 2 MB")
    assert exit_code(_report(skipped)) == 1
    assert exit_reasons(_report(skipped)) == ["files skipped: 1"]
    not_run = (CheckResult("ruff", "passed"),
               CheckResult("equivalence", "not_run", "equivalence job stopped: time limit"))
    assert exit_code(_report(FileResult("a.py", "converted", checks=not_run))) == 1
    failed = (CheckResult("fast_dev_run", "failed", "memory limit exceeded"),)
    assert exit_code(_report(FileResult("a.py", "converted", checks=failed))) == 1


def test_cli_exits_one_for_a_skipped_file_and_zero_without(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "model.py").write_text(CLEAN)
    runner = CliRunner()
    ok = runner.invoke(app, ["migrate", str(src), "--out", str(tmp_path / "o1"), "--no-llm",
                             "--no-validate"])
    assert ok.exit_code == 0, ok.output
    (src / "huge.py").write_text("import keras\n" + "x = 1\n" * 400_000)  # over 2 MB
    gap = runner.invoke(app, ["migrate", str(src), "--out", str(tmp_path / "o2"), "--no-llm",
                              "--no-validate"])
    assert gap.exit_code == 1, gap.output
    assert "files skipped: 1" in gap.output
