"""Findings that were already in the original file: they never fail the converted one.

A user's own unused import is not the conversion's fault, and failing ruff on it would stop
every later check, the proof of the conversion included. A finding of the converted file is
"already in the original" when the original has one with the same code and message (which
names the symbol) on the line that the converted line was copied from unchanged.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import replace

from agent.records import CheckResult, Diagnostic

MARK = "already in the original: "


def unchanged_lines(original: str, converted: str) -> dict[int, int]:
    """Converted line -> original line (1-based) for lines the conversion left as they were."""
    before, after = original.splitlines(), converted.splitlines()
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    mapping: dict[int, int] = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            mapping[block.b + k + 1] = block.a + k + 1
    return mapping


def _key(d: Diagnostic) -> tuple[str, str]:
    """Code and first message line: the message names the symbol (``"os" imported but
    unused``), so an unused ``os`` is not excused by an unused ``sys``."""
    return d.code, d.message.splitlines()[0] if d.message else ""


def split(diagnostics: Sequence[Diagnostic], before: Sequence[Diagnostic],
          lines: dict[int, int]) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """(introduced by the conversion, already in the original)."""
    old = {(d.line, *_key(d)) for d in before}
    new: list[Diagnostic] = []
    kept: list[Diagnostic] = []
    for d in diagnostics:
        source_line = lines.get(d.line)
        if source_line is not None and (source_line, *_key(d)) in old:
            kept.append(d)
        else:
            new.append(d)
    return new, kept


def judge(result: CheckResult, original: CheckResult | None, original_text: str | None,
          converted_text: str | None) -> CheckResult:
    """``result`` with the original's own findings taken out of its verdict.

    Those stay in the diagnostics, marked, so the report lists them; only findings the
    conversion introduced make the check fail.
    """
    if (result.status != "failed" or original is None or original_text is None
            or converted_text is None or original.status == "not_run"):
        return result
    lines = unchanged_lines(original_text, converted_text)
    new, kept = split(result.diagnostics, original.diagnostics, lines)
    if not kept:
        return result
    marked = tuple(replace(d, message=MARK + d.message) for d in kept)
    note = f"{len(kept)} finding(s) already in the original (not counted)"
    if not new:
        return replace(result, status="passed", message=note, diagnostics=marked)
    codes = ", ".join(sorted({d.code for d in new}))
    return replace(result, message=f"{len(new)} {result.name} finding(s) introduced by the "
                   f"conversion: {codes}; {note}", diagnostics=(*new, *marked))
