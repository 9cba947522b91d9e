"""The bundled example project: converted end to end, every check passes, and every converted
script trains (one batch, PL_TRAINER_FAST_DEV_RUN=1) on the data it makes itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.commands.migrate import run_migrate

EXAMPLES = Path(__file__).parent.parent / "examples" / "keras_project"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    out = tmp_path_factory.mktemp("examples-out")
    code = run_migrate(EXAMPLES, out=out, in_place=False, force=True, diff=False, report=None,
                       jobs=1, no_llm=True, no_validate=False, changed_only=None, llm_cli={})
    report = json.loads((out / "report.json").read_text())
    files = {f["path"]: f for f in report["files"]}
    # exit 1 only for files that converted but warn of a change of behaviour (Lazy modules)
    assert code == 0 or all(_converted_with_warnings(f) for f in files.values()
                            if f["status"] != "converted"), json.dumps(report["summary"])
    return out, files


def _converted_with_warnings(f: dict) -> bool:
    return f["status"] == "partial" and not f["unmapped"] and "change(s) of behaviour" in \
        f["reason"] and bool(f["warnings"])


def test_every_example_converts_and_passes_every_check(converted: tuple[Path, dict]) -> None:
    out, files = converted
    assert len(SCRIPTS) >= 5
    for name in SCRIPTS:
        f = files[name]
        assert f["status"] == "converted" or _converted_with_warnings(f), (
            name, f["unmapped"], f["reason"])
        assert f["keras_deps_left"] == [], (name, f["keras_deps_left"])
        checks = {c["name"]: c for c in f["checks"]}
        for check in ("parse", "ruff", "mypy", "fast_dev_run", "equivalence"):
            assert checks[check]["status"] == "passed", (name, check, checks[check]["message"])
        code = (out / name).read_text()
        assert "import keras" not in code and "tensorflow" not in code


@pytest.mark.parametrize("name", SCRIPTS)
def test_converted_script_trains(converted: tuple[Path, dict], name: str) -> None:
    out, _ = converted
    env = dict(os.environ, PL_TRAINER_FAST_DEV_RUN="1", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, name], cwd=out, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "fast_dev_run" in proc.stdout + proc.stderr  # Lightning ran in one-batch mode
