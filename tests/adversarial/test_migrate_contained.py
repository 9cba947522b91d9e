"""``migrate`` end to end on hostile Keras scripts: what their class bodies (run by the checks)
could see, a 20 GB allocation, and sleepers forked from the checks. Each file is its own
program; validation runs them in the sandbox named by ``--sandbox``. Every subprocess is
bounded by the checks' own time limits (60 s per file, equivalence 60 s per model)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent.commands.migrate import run_migrate
from agent.sandbox import resolve

from .helpers import KINDS, SECRETS, unique_token, wait_gone

MODEL = """
model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2)])
model.compile(optimizer="adam", loss="mse")
"""

PROBE = '''\
import json
import os

import keras
from keras import layers

SOURCES = {sources!r}


def _try(action):
    try:
        action()
    except OSError as exc:
        return "refused: " + str(exc)
    return "ok"


def _write_into_sources():
    with open(os.path.join(SOURCES, "planted.py"), "w") as fh:
        fh.write("print('planted')")


class Probe:
    seen = {{"env": dict(os.environ), "home": os.path.expanduser("~"),
             "write_sources": _try(_write_into_sources)}}
    raise RuntimeError("K2L-PROBE " + json.dumps(seen) + " K2L-END")

''' + MODEL

GREEDY = '''\
import keras
from keras import layers


class Greedy:
    buffer = bytearray(20 * 2**30)

''' + MODEL

FORKING = '''\
import os

import keras
from keras import layers

TOKEN = "{token}"


class Sleepers:
    if os.fork() == 0:
        os.execv("/bin/sleep", ["sleep", TOKEN])
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", TOKEN])
        os._exit(0)

''' + MODEL


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(text, encoding="utf-8")
    return src


def _migrate(src: Path, out: Path, kind: str) -> tuple[int, dict]:
    code = run_migrate(src, out=out, in_place=False, force=False, diff=False, report=None,
                       jobs=1, no_llm=True, no_validate=False, changed_only=None, llm_cli={},
                       sandbox=kind)
    return code, json.loads((out / "report.json").read_text())


def _check(report: dict, path: str, name: str) -> dict:
    f = next(f for f in report["files"] if f["path"] == path)
    return next(c for c in f["checks"] if c["name"] == name)


def _probe_findings(report: dict) -> dict:
    check = _check(report, "probe.py", "fast_dev_run")
    text = check["message"] + "".join(d["message"] for d in check["diagnostics"])
    found = re.search(r"K2L-PROBE (\{.*?\}) K2L-END", text)
    assert found, check
    return json.loads(found.group(1))


def _sandbox_note(report: dict) -> str:
    return next(n for n in report["notes"] if n.startswith("sandbox:"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_hostile_scripts_are_contained(kind: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    token = unique_token()
    src = tmp_path / "src"
    files = {"probe.py": PROBE.format(sources=str(src)),
             "greedy.py": GREEDY, "forking.py": FORKING.format(token=token)}
    src = _project(tmp_path, files)
    code, report = _migrate(src, tmp_path / "out", kind)

    assert code == 1  # failed checks
    report_text = (tmp_path / "out" / "report.json").read_text()
    assert not any(value in report_text for value in SECRETS.values())
    seen = _probe_findings(report)
    assert not set(seen["env"]) & set(SECRETS)
    assert seen["home"] != str(Path.home()) and "k2l-job-" in seen["home"]

    greedy = _check(report, "greedy.py", "fast_dev_run")
    assert greedy["status"] == "failed" and "memory limit exceeded" in greedy["message"]
    assert greedy["diagnostics"][0]["code"] == "memory"

    assert _check(report, "forking.py", "fast_dev_run")["status"] == "passed"
    assert wait_gone(token) == [], "processes forked by checked code outlived migrate"

    if kind == "bwrap":
        assert _sandbox_note(report).startswith("sandbox: bubblewrap")
        assert seen["write_sources"].startswith("refused")
        assert not (src / "planted.py").exists()
    else:
        assert _sandbox_note(report).startswith("sandbox: none, resource limits only")
        (src / "planted.py").unlink(missing_ok=True)  # not contained without bwrap: documented


@pytest.mark.slow
def test_auto_records_the_sandbox_it_chose(tmp_path: Path) -> None:
    src = _project(tmp_path, {"probe.py": PROBE.format(sources=str(tmp_path / "src"))})
    _, report = _migrate(src, tmp_path / "out", "auto")
    chosen = resolve("auto")
    expected = "sandbox: bubblewrap" if chosen.kind == "bwrap" else "sandbox: none"
    assert _sandbox_note(report).startswith(expected)
    md = (tmp_path / "out" / "report.md").read_text()
    assert _sandbox_note(report) in md
