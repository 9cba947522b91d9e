"""report.md (for people) and report.json (for tools and the PR bot).

Modelled on tf_upgrade_v2's report: a one-line verdict, then per file its status, every
change with its line and rule, the warnings and unmapped constructs, the checks and the
Keras/TensorFlow dependencies left.
"""

from __future__ import annotations

import json
from pathlib import Path

from agent.fsutil import write_atomic
from agent.records import FileResult, Report, report_to_json

_ICON = {"passed": "passed", "failed": "FAILED", "not_run": "not run"}


def headline(report: Report) -> str:
    s = report.summary()
    return (f"Converted {s['converted']} files ({s['partial']} partially), "
            f"{s['need_attention']} need attention; {s['failed']} failed, "
            f"{s['skipped']} skipped, {s['unchanged']} unchanged.")


def _at(line: int, cell: int | None) -> str:
    """``line 12``, or ``cell 3, line 2`` in a notebook."""
    return f"line {line}" if cell is None else f"cell {cell}, line {line}"


def _file_md(f: FileResult) -> list[str]:
    out = [f"### `{f.path}`: {f.status}"]
    if f.reason:
        out.append(f"- {f.reason}")
    for c in f.checks:
        msg = f": {c.message}" if c.message else ""
        out.append(f"- check **{c.name}**: {_ICON[c.status]}{msg}")
        for diag in c.diagnostics[:10]:
            cell = "" if diag.cell is None else f"cell {diag.cell}:"
            out.append(f"  - `{diag.file or f.path}:{cell}{diag.line}:{diag.col}` {diag.code} "
                       f"{diag.message}")
    for u in f.unmapped:
        out.append(f"- {_at(u.line, u.cell)}: **needs a person**: `{u.keras_name}`: {u.reason}")
    for w in f.warnings:
        out.append(f"- {_at(w.line, w.cell)}: warning: {w.message}")
    for d in f.keras_deps_left:
        out.append(f"- {_at(d.line, d.cell)}: Keras/TF left: `{d.name}` ({d.why})")
    if f.llm.calls:
        out.append(f"- LLM: {f.llm.calls} calls, {f.llm.tokens} tokens, {f.llm.retries} retries, "
                   f"{f.llm.cache_hits} cache hits")
    if f.changes:
        out.append("")
        out.append("| line | rule | change |")
        out.append("| ---: | --- | --- |")
        for change in f.changes:
            where = change.line if change.cell is None else _at(change.line, change.cell)
            out.append(f"| {where} | `{change.rule}` | "
                       f"{change.message.replace('|', '/')} |")
    out.append("")
    return out


def render_markdown(report: Report) -> str:
    lines = ["# k2l-agent migration report", "", headline(report), "",
             f"- source: `{report.source}`", f"- output: `{report.output}`"]
    lines += [f"- {n}" for n in report.notes]
    lines.append("")
    interesting = [f for f in report.files if f.status != "unchanged" or f.reason]
    quiet = len(report.files) - len(interesting)
    if quiet:
        lines += [f"Files without Keras/TensorFlow code, copied unchanged: {quiet}.", ""]
    attention = [f for f in interesting if f.needs_attention]
    rest = [f for f in interesting if not f.needs_attention]
    if attention:
        lines += ["## Needs attention", ""]
        for f in attention:
            lines += _file_md(f)
    if rest:
        lines += ["## Files", ""]
        for f in rest:
            lines += _file_md(f)
    return "\n".join(lines).rstrip() + "\n"


def write_reports(report: Report, md_path: Path, json_path: Path) -> None:
    write_atomic(json_path, (json.dumps(report_to_json(report), indent=2) + "\n").encode())
    write_atomic(md_path, render_markdown(report).encode("utf-8", "backslashreplace"))


def exit_reasons(report: Report) -> list[str]:
    """Why the exit code is 1: files needing attention, skipped files, checks that did not run
    (``--no-validate`` adds no checks, so it is not one). Empty when everything passed."""
    s = report.summary()
    not_run = sum(1 for f in report.files for c in f.checks if c.status == "not_run")
    parts = [("files need attention", s["need_attention"]), ("files skipped", s["skipped"]),
             ("checks not run", not_run)]
    return [f"{what}: {n}" for what, n in parts if n]


def exit_code(report: Report) -> int:
    """0 only when nothing was skipped, failed or left unchecked; 1 otherwise."""
    return 1 if exit_reasons(report) else 0
