"""One ``.ipynb`` in, a converted notebook plus its report record out. Never raises.

The code cells go through the rules as one program (agent.notebooks.program); each converted
line goes back to its cell. Markdown and raw cells, cell ids and metadata stay as they were;
a changed code cell loses its outputs and execution count (they belonged to the old code).
Broken notebooks (invalid JSON, nbformat 3, a schema error) are one report line each.
"""

from __future__ import annotations

import ast
import copy
import difflib
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from agent.fsutil import write_atomic
from agent.notebooks.program import CellsLost, Program, build, locate, split
from agent.records import (
    Change,
    CheckResult,
    Diagnostic,
    FileResult,
    FileStatus,
    KerasDependency,
    Unmapped,
    Warning_,
)
from agent.rules.convert import Conversion, convert_source
from agent.rules.models.transform import Recipe

# every record that carries a line (and so a cell)
T = TypeVar("T", Change, Warning_, Unmapped, KerasDependency, Diagnostic)
SCRIPTS = Path(".k2l-cache") / "notebooks"  # under --out: the programs the checks run


@dataclass(frozen=True)
class NotebookConversion:
    result: FileResult
    text: str | None = None  # the converted notebook (JSON); None = copy the original
    program: str = ""  # the original code cells as one program (equivalence builds from it)
    script: str = ""  # the converted program, IPython lines as ``pass`` (the checks run it)
    recipes: tuple[Recipe, ...] = ()


def _cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def code_cells(nb: dict[str, Any]) -> list[tuple[int, str]]:
    """``(index, source)`` of every code cell, in order."""
    return [(k, _cell_source(c)) for k, c in enumerate(nb.get("cells", []))
            if isinstance(c, dict) and c.get("cell_type") == "code"]


def source_text(path: Path) -> str:
    """A file's Python code: a notebook's code cells as one program, a script as it is."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix != ".ipynb":
        return text
    try:
        nb = json.loads(text)
    except json.JSONDecodeError:
        return text
    return build(code_cells(nb)).source if isinstance(nb, dict) else text


def _as_lines(source: str) -> list[str]:
    """nbformat's on-disk form: a list of lines, each but the last ending in a newline."""
    return source.splitlines(keepends=True)


def _load(raw: bytes, rel: str) -> dict[str, Any] | str:
    """The notebook, or why it cannot be converted (one report line)."""
    try:
        nb = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "notebook is not UTF-8: not converted"
    except json.JSONDecodeError as exc:
        return f"not a valid notebook (invalid JSON at line {exc.lineno}): not converted"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells", None), list):
        return ("not a notebook in nbformat 4 (no cell list; nbformat 3 and older: upgrade "
                "with `jupyter nbconvert --to notebook`): not converted")
    if nb.get("nbformat") != 4:
        return (f"nbformat {nb.get('nbformat')} notebook: only nbformat 4 is converted "
                "(upgrade with `jupyter nbconvert --to notebook`)")
    problem = _schema_problem(nb)
    if problem:
        return f"notebook does not follow the nbformat 4 schema ({problem}): not converted"
    return nb


def _schema_problem(nb: dict[str, Any]) -> str:
    import nbformat

    try:  # on a copy: validate may repair (mutate) what it checks
        with warnings.catch_warnings():  # nbformat 4.0-4.4 cells have no ids: still valid
            warnings.simplefilter("ignore")
            nbformat.validate(copy.deepcopy(nb))
    except nbformat.ValidationError as exc:
        return str(exc.message)[:200]
    return ""


def relocate(items: Sequence[T], source: str) -> tuple[T, ...]:
    """Records with program lines → the same records with ``cell`` (counted from 1 over all
    cells, markdown included, as a notebook shows them) and the line in that cell."""
    out = []
    for item in items:
        where = locate(source, item.line)
        out.append(replace(item, line=where[1], cell=where[0] + 1) if where else item)
    return tuple(out)


def _status(conv: Conversion) -> FileStatus:
    if conv.unmapped:
        return "partial"
    return "converted" if conv.changed else "unchanged"


def _syntax_error(program: Program) -> str:
    """Python's own verdict on the joined cells, located in its cell; "" when it parses."""
    try:
        ast.parse(program.source)
    except SyntaxError as exc:
        where = locate(program.source, exc.lineno or 1) or (0, exc.lineno or 1)
        return f"syntax error at cell {where[0] + 1}, line {where[1]}: {exc.msg}"
    return ""


def cell_diff(rel: str, before: dict[int, str], after: dict[int, str]) -> str:
    """A unified diff per changed cell, headed ``a/nb.ipynb:cell N`` (N counted from 1)."""
    parts = []
    for index in sorted(after):
        old, new = before[index], after[index]
        if old != new:
            parts.append("".join(difflib.unified_diff(
                (old + "\n").splitlines(keepends=True), (new + "\n").splitlines(keepends=True),
                fromfile=f"a/{rel}:cell {index + 1}", tofile=f"b/{rel}:cell {index + 1}")))
    return "".join(parts)


def convert_notebook(raw: bytes, rel: str) -> NotebookConversion:
    loaded = _load(raw, rel)
    if isinstance(loaded, str):
        return NotebookConversion(FileResult(rel, "skipped", loaded))
    nb = loaded
    code = code_cells(nb)
    program = build(code)
    error = _syntax_error(program)
    if error:
        return NotebookConversion(FileResult(rel, "failed", error), program=program.source)
    conv = convert_source(program.source, rel)
    if conv.error:
        return NotebookConversion(FileResult(rel, "failed", conv.error), program=program.source)
    script = conv.source
    try:
        sources = split(program, conv.source)
    except CellsLost as exc:
        return NotebookConversion(FileResult(
            rel, "failed", f"the converted code could not be put back into its cells ({exc}); "
            "notebook left as written"), program=program.source)
    before = dict(code)
    changed = {k for k, s in sources.items() if s != before[k]}
    at = program.source  # the records' lines count in the original program
    result = FileResult(
        rel, _status(conv), changes=relocate(conv.changes, at),
        warnings=relocate(conv.warnings, at), unmapped=relocate(conv.unmapped, at),
        keras_deps_left=relocate(conv.keras_deps, at), diff=cell_diff(rel, before, sources))
    if not changed:
        return NotebookConversion(result, None, program.source, script, tuple(conv.recipes))
    for index in changed:
        cell = nb["cells"][index]
        cell["source"] = _as_lines(sources[index])
        cell["outputs"] = []
        cell["execution_count"] = None
    problem = _schema_problem(nb)
    if problem:  # our own bug: never write an invalid notebook
        return NotebookConversion(FileResult(
            rel, "failed", f"converted notebook would not be valid nbformat 4 ({problem}); "
            "left as written"), program=program.source)
    text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    return NotebookConversion(result, text, program.source, script, tuple(conv.recipes))


def write_scripts(out: Path, rel: str, programs: tuple[str, str]) -> tuple[Path, Path]:
    """The original and converted programs as ``.py`` files for the checks and equivalence
    (``.k2l-cache`` is never walked as source); returns (converted, original)."""
    base = out / SCRIPTS / rel
    converted = base.with_name(base.name.replace(".", "_") + ".py")
    original = base.with_name(base.name.replace(".", "_") + "_original.py")
    write_atomic(original, programs[0].encode("utf-8"))
    write_atomic(converted, programs[1].encode("utf-8"))
    return converted, original


def relocate_checks(checks: Sequence[CheckResult], script: str, rel: str
                    ) -> tuple[CheckResult, ...]:
    """Check results on a notebook's script → diagnostics that point at the notebook's cells."""
    return tuple(replace(c, diagnostics=tuple(replace(d, file=rel) for d in
                                              relocate(c.diagnostics, script)))
                 for c in checks)
