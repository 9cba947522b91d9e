"""No Python exception text ever reaches a user: every corpus-like program in
tests/programs/ (written for this test, patterns seen in real Keras code) goes through the
rules and the whole migrate pipeline; the output and the report must carry reasons, never
tracebacks or exception messages."""

from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

import pytest

from agent.rules.convert import convert_source

PROGRAMS = sorted((Path(__file__).parent / "programs").glob("*.py"))
EXCEPTION_TEXT = re.compile(
    r"Traceback|internal error|zip\(\) argument|IndexError|KeyError|TypeError|ValueError|"
    r"AttributeError|AssertionError|CSTValidationError|object has no attribute|"
    r"not subscriptable|list index out of range|unexpected keyword")


def _comments(code: str) -> str:
    """The comments of generated code (``TODO(k2l): ...`` lines carry the rules' reasons);
    its statements may name exceptions legitimately (a copied runtime ``raise ValueError``)."""
    try:
        return "\n".join(t.string for t in tokenize.generate_tokens(io.StringIO(code).readline)
                         if t.type == tokenize.COMMENT)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return "\n".join(line for line in code.splitlines() if "#" in line)


def _texts(path: Path) -> list[str]:
    result = convert_source(path.read_text(encoding="utf-8"), path.name)
    return ([_comments(result.source), result.error] + [u.reason for u in result.unmapped]
            + [w.message for w in result.warnings] + [c.message for c in result.changes])


@pytest.mark.parametrize("path", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_rules_report_reasons_not_exceptions(path: Path) -> None:
    for text in _texts(path):
        assert not EXCEPTION_TEXT.search(text), text


def test_the_pattern_catches_what_it_should() -> None:
    assert EXCEPTION_TEXT.search("zip() argument 2 is longer than argument 1")
    assert EXCEPTION_TEXT.search("internal error in the rules (IndexError: x)")
    assert not EXCEPTION_TEXT.search("Conv2D: input size unknown statically")
    assert EXCEPTION_TEXT.search(_comments("x = 1  # TODO(k2l): IndexError: x\n"))
    assert not _comments('raise ValueError("unknown activation")\n')


@pytest.mark.slow
def test_migrate_report_has_no_exception_text(tmp_path: Path) -> None:
    from agent.pipeline import Options, migrate
    from agent.report import write_reports

    src = Path(__file__).parent / "programs"
    report, _items, out_dir = migrate(src, Options(out=tmp_path / "out", force=True,
                                                   validate=False, llm=False))
    write_reports(report, out_dir / "report.md", out_dir / "report.json")
    text = (out_dir / "report.json").read_text(encoding="utf-8")
    data = json.loads(text)
    for item in data["files"]:  # the diff's code may name exceptions; its comments may not
        added = "\n".join(line[1:] for line in item.pop("diff", "").splitlines()
                          if line.startswith("+") and not line.startswith("+++"))
        assert not EXCEPTION_TEXT.search(_comments(added)), item["path"]
    rest = json.dumps(data)
    assert not EXCEPTION_TEXT.search(rest), EXCEPTION_TEXT.search(rest)
    assert len(data["files"]) == len(PROGRAMS)
