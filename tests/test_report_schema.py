"""report.json follows the schema documented in the README, and report.md says the same."""

from __future__ import annotations

import json
from pathlib import Path

from agent.records import (
    Change,
    CheckResult,
    Diagnostic,
    FileResult,
    KerasDependency,
    Report,
    Unmapped,
    Warning_,
    report_to_json,
)
from agent.report import exit_code, headline, render_markdown, write_reports

FILE_KEYS = {"path", "status", "reason", "needs_attention", "changes", "warnings", "unmapped",
             "checks", "keras_deps_left", "llm", "diff"}


def _report() -> Report:
    good = FileResult(
        "pkg/a.py", "converted", changes=(Change(3, "layers.Dense", "Dense -> nn.Linear"),),
        checks=(CheckResult("ruff", "passed"),
                CheckResult("mypy", "failed", "1 error", (Diagnostic("mypy", 4, 2, "arg-type",
                                                                     "bad", "pkg/a.py"),)),
                CheckResult("fast_dev_run", "not_run", "earlier check failed: mypy")),
        keras_deps_left=(KerasDependency(9, "keras.datasets.mnist.load_data", "kept"),),
        diff="--- a/pkg/a.py\n+++ b/pkg/a.py\n")
    partial = FileResult("b.py", "partial", warnings=(Warning_(2, "Lazy module"),),
                         unmapped=(Unmapped("b.py", 7, "MyLayer", "unknown op", "MyLayer"),))
    quiet = FileResult("c.txt", "unchanged")
    skipped = FileResult("d.py", "skipped", "binary content in a .py file: not converted")
    return Report("src", "out", (good, partial, quiet, skipped))


def test_json_schema() -> None:
    doc = report_to_json(_report())
    assert doc["schema_version"] == 1 and doc["tool"] == "k2l-agent"
    assert set(doc) == {"schema_version", "tool", "source", "output", "llm_enabled", "notes",
                        "summary", "files"}
    assert doc["summary"] == {"converted": 1, "partial": 1, "failed": 0, "skipped": 1,
                              "unchanged": 1, "files": 4, "need_attention": 2}
    for f in doc["files"]:
        assert set(f) == FILE_KEYS
        assert f["status"] in {"converted", "partial", "failed", "skipped", "unchanged"}
        for c in f["checks"]:
            assert set(c) == {"name", "status", "message", "diagnostics", "seconds"}
            assert c["status"] in {"passed", "failed", "not_run"}
            for d in c["diagnostics"]:
                assert set(d) == {"tool", "line", "col", "code", "message", "file", "cell"}
        assert set(f["llm"]) == {"calls", "tokens", "retries", "cache_hits"}
    first = doc["files"][0]
    assert first["needs_attention"] is True  # a failed check needs attention
    assert first["unmapped"] == [] and first["changes"][0]["rule"] == "layers.Dense"
    for key in ("changes", "warnings", "unmapped", "keras_deps_left"):
        for item in [i for f in doc["files"] for i in f[key]]:
            assert item["cell"] is None  # set only in notebooks
    json.dumps(doc)  # serialisable as-is


def test_readme_documents_every_key() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for key in FILE_KEYS | {"schema_version", "need_attention", "keras_deps_left"}:
        assert f'"{key}"' in readme, key


def test_markdown_and_exit_code(tmp_path: Path) -> None:
    report = _report()
    md = render_markdown(report)
    assert headline(report) in md
    assert "## Needs attention" in md and "`b.py`: partial" in md
    assert "line 7: **needs a person**: `MyLayer`" in md
    assert "binary content" in md
    assert exit_code(report) == 1
    write_reports(report, tmp_path / "r.md", tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["files"] == 4
    clean = Report("s", "o", (FileResult("x.py", "converted",
                                         checks=(CheckResult("ruff", "passed"),)),))
    assert exit_code(clean) == 0
