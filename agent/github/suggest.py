"""Review comments with GitHub ``suggestion`` blocks, so a reviewer can apply a conversion.

Only small, clean changes qualify: a converted file whose checks all passed, with a few
short change blocks. GitHub accepts a review comment only on lines inside the PR's own diff,
so each suggestion is kept only when its lines fall in one hunk of the PR's patch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SUGGESTION_MARKER = "<!-- k2l-agent-suggestion -->"
MAX_BLOCK_LINES = 20  # lines removed or added by one change block
MAX_BLOCKS_PER_FILE = 10  # more than this is not a "small" change: read the diff instead
MAX_SUGGESTIONS = 50  # per review

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class Suggestion:
    """Replace lines ``start..end`` of ``path`` at the PR head with ``new_lines``."""

    path: str
    start: int
    end: int
    new_lines: tuple[str, ...]

    def body(self) -> str:
        text = "\n".join(self.new_lines)
        runs = [len(r) for r in re.findall(r"`{3,}", text)]
        fence = "`" * max(3, max(runs, default=0) + 1)
        return f"{SUGGESTION_MARKER}\n{fence}suggestion\n{text}\n{fence}"

    def review_comment(self) -> dict[str, Any]:
        c: dict[str, Any] = {"path": self.path, "line": self.end, "side": "RIGHT",
                             "body": self.body()}
        if self.start < self.end:
            c |= {"start_line": self.start, "start_side": "RIGHT"}
        return c


@dataclass
class _Block:
    start: int  # old-side line of the first removed line, or of the anchor line
    removed: list[str]
    added: list[str]
    anchor: str | None  # context line before a pure insertion


def _blocks(diff: str) -> list[_Block]:
    """Change blocks (runs of -/+ lines) of a unified diff, in old-side line numbers."""
    blocks: list[_Block] = []
    old = 0
    prev_context: tuple[int, str] | None = None
    cur: _Block | None = None
    in_hunk = False
    for line in diff.split("\n"):
        m = _HUNK.match(line)
        if m:
            _flush(cur, blocks)
            cur = None
            old, prev_context, in_hunk = int(m.group(1)), None, True
            continue
        if not in_hunk or line.startswith("\\"):
            continue
        if line.startswith("-") and not line.startswith("--- "):
            cur = cur or _Block(old, [], [], None)
            cur.removed.append(line[1:])
            old += 1
        elif line.startswith("+") and not line.startswith("+++ "):
            if cur is None:
                anchor = prev_context or (old - 1, "")
                cur = _Block(anchor[0], [], [], prev_context[1] if prev_context else None)
            cur.added.append(line[1:])
        elif line.startswith(" ") or line == "":
            _flush(cur, blocks)
            cur = None
            prev_context = (old, line[1:])
            old += 1
        else:  # a new file header or junk: the hunk is over
            _flush(cur, blocks)
            cur = None
            in_hunk = False
    _flush(cur, blocks)
    return blocks


def _flush(cur: _Block | None, blocks: list[_Block]) -> None:
    if cur is not None:
        blocks.append(cur)


def suggestions_for_file(f: Mapping[str, Any]) -> list[Suggestion]:
    """Suggestions for one report file; none unless the conversion is clean and small."""
    if f.get("status") != "converted" or f.get("needs_attention"):
        return []
    if any(c.get("status") == "failed" for c in f.get("checks") or ()):
        return []
    blocks = _blocks(str(f.get("diff") or ""))
    if not blocks or len(blocks) > MAX_BLOCKS_PER_FILE:
        return []
    out: list[Suggestion] = []
    for b in blocks:
        if len(b.removed) > MAX_BLOCK_LINES or len(b.added) > MAX_BLOCK_LINES:
            return []  # all or nothing: half a conversion applied would not run
        if b.removed:
            out.append(Suggestion(str(f["path"]), b.start, b.start + len(b.removed) - 1,
                                  tuple(b.added)))
        elif b.anchor is not None and b.start > 0:
            out.append(Suggestion(str(f["path"]), b.start, b.start, (b.anchor, *b.added)))
        else:
            return []
    return out


def patch_ranges(patch: str) -> list[tuple[int, int]]:
    """Right-side line ranges of a PR file's patch: the only lines a review may touch."""
    ranges = []
    for line in patch.split("\n"):
        m = _HUNK.match(line)
        if m:
            start, count = int(m.group(3)), int(m.group(4) or 1)
            if count:
                ranges.append((start, start + count - 1))
    return ranges


def in_pr_diff(s: Suggestion, pr_files: Iterable[Mapping[str, Any]]) -> bool:
    for pf in pr_files:
        if pf.get("filename") == s.path:
            return any(a <= s.start and s.end <= b
                       for a, b in patch_ranges(str(pf.get("patch") or "")))
    return False


def plan_suggestions(report: Mapping[str, Any], pr_files: Sequence[Mapping[str, Any]],
                     existing: Sequence[Mapping[str, Any]]) -> list[Suggestion]:
    """The suggestions to post now: clean, inside the PR's diff, and not already posted."""
    posted = {(c.get("path"), c.get("line"), c.get("body")) for c in existing}
    plan = []
    for f in report.get("files") or ():
        for s in suggestions_for_file(f):
            if in_pr_diff(s, pr_files) and (s.path, s.end, s.body()) not in posted:
                plan.append(s)
    return plan[:MAX_SUGGESTIONS]
