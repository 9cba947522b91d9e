"""Turn a ``report.json`` document into the one Markdown comment the PR bot keeps up to date.

The comment is built from whole blocks (summary, table rows, per-file sections) so that
cutting it to GitHub's size limit never splits a code fence or a ``<details>`` block: whole
diffs go first, then whole attention lists, then whole table rows, always from the end.
Files are ordered attention-first, so what a human must look at is the last thing cut.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

MARKER = "<!-- k2l-agent-report -->"
COMMENT_LIMIT = 65_536  # GitHub rejects issue comments longer than this (characters)

STATUS_BADGE = {
    "converted": "✅ converted",
    "partial": "⚠️ partial",
    "failed": "❌ failed",
    "skipped": "⏭️ skipped",
    "unchanged": "➖ unchanged",
}
CHECK_MARK = {"passed": "✓", "failed": "✗", "not_run": "–"}
TABLE_HEAD = "| File | Status | Checks | LLM rounds |\n| --- | --- | --- | --- |"
MAX_DIAGNOSTICS = 10  # per failed check; the rest is counted, the full list is in report.json
MAX_NAMES_IN_NOTE = 10

# Keep a cut comment's levels: 3 everything, 2 no diff, 1 table row only, 0 nothing.
FULL, NO_DIFF, ROW_ONLY, GONE = 3, 2, 1, 0

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!])")


@dataclass(frozen=True)
class LinkTarget:
    """Where ``path:line`` links point: a file at the PR head on a GitHub server."""

    repo: str | None = None
    head_sha: str | None = None
    server_url: str = "https://github.com"

    def location(self, path: str, line: int, cell: int = 0) -> str:
        """``path:line`` (``nb.ipynb:cell N:line M`` in a notebook) as a link to the PR head,
        or plain text when the head is unknown. Notebook links go to the file: GitHub's
        rendered notebooks have no line anchors."""
        at = f"cell {cell}:{line}" if cell > 0 else str(line)
        label = escape(f"{path}:{at}" if line > 0 else path)
        if not (self.repo and self.head_sha):
            return label
        url = f"{self.server_url.rstrip('/')}/{self.repo}/blob/{self.head_sha}/{quote(path)}"
        if line > 0 and cell <= 0:
            url += f"#L{line}"
        return f"[{label}]({url})"


def _int(value: object) -> int:
    """A count or line number from JSON; 0 for anything else, since bad input must not crash."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _items(record: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """The dict entries of a list field; anything malformed is skipped rather than fatal."""
    value = record.get(key)
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list | tuple) else []


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def escape(text: object) -> str:
    """Plain text on one line, with Markdown and HTML specials neutralised."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def code(text: object, *, in_table: bool = False) -> str:
    """An inline code span that survives backticks (and pipes inside a table) in the text."""
    flat = " ".join(str(text).split())
    runs = [len(r) for r in re.findall(r"`+", flat)]
    ticks = "`" * (max(runs, default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    if in_table:
        flat = flat.replace("|", "\\|")
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def _fence(body: str) -> str:
    runs = [len(r) for r in re.findall(r"`{3,}", body)]
    return "`" * max(3, max(runs, default=0) + 1)


def checks_cell(checks: Sequence[Mapping[str, Any]]) -> str:
    """``ruff ✓ mypy ✓ fast_dev_run ✗``; a dash when no check ran."""
    parts = [
        f"{escape(c.get('name', '?'))} {CHECK_MARK.get(str(c.get('status')), '?')}"
        for c in checks
    ]
    return " ".join(parts) or "–"


def llm_cell(llm: Mapping[str, Any], enabled: bool) -> str:
    if not enabled:
        return "off"
    calls, retries = _int(llm.get("calls")), _int(llm.get("retries"))
    if not retries:
        return str(calls)
    return f"{calls} ({retries} {'retry' if retries == 1 else 'retries'})"


def table_row(f: Mapping[str, Any], enabled: bool) -> str:
    status = str(f.get("status", "?"))
    cells = [
        code(f.get("path", "?"), in_table=True),
        STATUS_BADGE.get(status, escape(status)),
        checks_cell(_items(f, "checks")),
        llm_cell(_map(f.get("llm")), enabled),
    ]
    return "| " + " | ".join(cells) + " |"


def _diagnostic_lines(check: Mapping[str, Any], path: str) -> list[str]:
    diags = _items(check, "diagnostics")
    # Diagnostics point into the *converted* file, not the PR head, so they are not linked.
    lines = []
    for d in diags[:MAX_DIAGNOSTICS]:
        where = f"{d.get('file') or path}:{d.get('line', 0)}:{d.get('col', 0)}"
        tag = f" {code(d['code'])}" if d.get("code") else ""
        lines.append(f"  - {code(where)}{tag} {escape(d.get('message', ''))}")
    if len(diags) > MAX_DIAGNOSTICS:
        lines.append(f"  - … and {len(diags) - MAX_DIAGNOSTICS} more in report.json")
    return lines


def attention_items(f: Mapping[str, Any], links: LinkTarget) -> list[str]:
    """Bullet lines for everything in one file that needs a human."""
    path = str(f.get("path", "?"))
    items: list[str] = []
    if f.get("status") == "failed" and f.get("reason"):
        items.append(f"- {escape(f['status'])}: {escape(f['reason'])}")
    for u in _items(f, "unmapped"):
        where = links.location(str(u.get("file") or path), _int(u.get("line")),
                               _int(u.get("cell")))
        inside = f" (in {code(u['qualname'])})" if u.get("qualname") else ""
        items.append(
            f"- unmapped {code(u.get('keras_name', '?'))} at {where}{inside}: "
            f"{escape(u.get('reason', ''))}"
        )
    for c in _items(f, "checks"):
        if c.get("status") == "failed":
            msg = f": {escape(c['message'])}" if c.get("message") else ""
            items.append(f"- check **{escape(c.get('name', '?'))}** failed{msg}")
            items.extend(_diagnostic_lines(c, path))
    for w in _items(f, "warnings"):
        where = links.location(path, _int(w.get("line")), _int(w.get("cell")))
        items.append(f"- warning at {where}: {escape(w.get('message', ''))}")
    for k in _items(f, "keras_deps_left"):
        where = links.location(path, _int(k.get("line")), _int(k.get("cell")))
        items.append(
            f"- Keras left at {where}: {code(k.get('name', '?'))} — {escape(k.get('why', ''))}"
        )
    return items


def diff_block(f: Mapping[str, Any]) -> str:
    """The file's unified diff, collapsed; empty when there is none."""
    diff = str(f.get("diff") or "")
    if not diff.strip():
        return ""
    body = diff[:-1] if diff.endswith("\n") else diff
    lines = body.split("\n")
    added = sum(1 for ln in lines if ln.startswith("+") and not ln.startswith("+++"))
    removed = sum(1 for ln in lines if ln.startswith("-") and not ln.startswith("---"))
    fence = _fence(body)
    path = html.escape(" ".join(str(f.get("path", "?")).split()))  # HTML: no Markdown escapes
    return (
        f"<details>\n<summary>Diff of <code>{path}</code> (+{added} −{removed})</summary>\n\n"
        f"{fence}diff\n{body}\n{fence}\n\n</details>"
    )


@dataclass(frozen=True)
class _FileParts:
    path: str
    row: str
    head: str
    items: str
    diff: str

    def blocks(self, level: int) -> list[str]:
        """The section's blocks at a keep-level; no section when nothing is left to show."""
        body = [b for b in (self.items if level >= NO_DIFF else "",
                            self.diff if level >= FULL else "") if b]
        return [self.head, *body] if body else []

    def size(self, level: int) -> int:
        """Characters this file adds to the comment at a keep-level (blocks joined by \\n\\n)."""
        row = len(self.row) + 1 if level >= ROW_ONLY else 0
        return row + sum(len(b) + 2 for b in self.blocks(level))


def _sort_key(indexed: tuple[int, Mapping[str, Any]]) -> tuple[int, int]:
    i, f = indexed
    rank = 0 if f.get("needs_attention") else 1 if f.get("status") == "converted" else 2
    return rank, i


def _file_parts(f: Mapping[str, Any], enabled: bool, links: LinkTarget) -> _FileParts:
    items = attention_items(f, links)
    path = str(f.get("path", "?"))
    status = STATUS_BADGE.get(str(f.get("status")), escape(f.get("status", "?")))
    return _FileParts(
        path=path,
        row=table_row(f, enabled),
        head=f"#### {code(path)} — {status}",
        items=("**Needs a human:**\n\n" + "\n".join(items)) if items else "",
        diff=diff_block(f),
    )


def _header(report: Mapping[str, Any]) -> list[str]:
    s = _map(report.get("summary"))
    n = {k: _int(s.get(k)) for k in
         ("converted", "partial", "failed", "skipped", "unchanged", "files", "need_attention")}
    attention = "needs" if n["need_attention"] == 1 else "need"
    summary = (
        f"**{n['converted']} converted · {n['need_attention']} {attention} attention · "
        f"{n['failed']} failed** — {n['files']} files in all ({n['partial']} partial, "
        f"{n['skipped']} skipped, {n['unchanged']} unchanged). "
        f"LLM: {'on' if report.get('llm_enabled') else 'off'}."
    )
    blocks = [MARKER + "\n### k2l-agent migration report", summary]
    raw = report.get("notes")
    notes = [f"> {escape(n)}" for n in raw] if isinstance(raw, list | tuple) else []
    if notes:
        blocks.append("\n>\n".join(notes))
    return blocks


def _names(parts: Sequence[_FileParts]) -> str:
    shown = ", ".join(code(p.path) for p in parts[:MAX_NAMES_IN_NOTE])
    more = len(parts) - MAX_NAMES_IN_NOTE
    return shown + (f" and {more} more" if more > 0 else "")


def _cut_note(parts: Sequence[_FileParts], levels: Sequence[int], full_report: str,
              limit: int) -> str:
    pairs = list(zip(parts, levels, strict=True))
    groups = [
        ("the diffs of", [p for p, lv in pairs if lv == NO_DIFF and p.diff]),
        ("all but the table row of", [p for p, lv in pairs
                                      if lv == ROW_ONLY and (p.items or p.diff)]),
        ("every line about", [p for p, lv in pairs if lv == GONE]),
    ]
    left_out = "; ".join(f"{what} {_names(ps)}" for what, ps in groups if ps)
    if not left_out:
        return ""
    where = (f"[the full report]({full_report})" if full_report.startswith(("http://", "https://"))
             else f"the full report ({code(full_report or 'report.json')})")
    return (
        f"✂️ **Cut to fit GitHub's {limit:,}-character comment limit.** "
        f"Left out: {left_out}. See {where}."
    )


def render_comment(
    report: Mapping[str, Any],
    *,
    links: LinkTarget | None = None,
    full_report: str = "",
    limit: int = COMMENT_LIMIT,
) -> str:
    """The comment for one report, at most ``limit`` characters, marker on the first line.

    ``full_report`` says where the uncut report lives (a URL becomes a link, anything else
    is shown as a path) and is only mentioned when something had to be left out.
    """
    links = links or LinkTarget()
    enabled = bool(report.get("llm_enabled"))
    raw = [f for f in report.get("files") or () if isinstance(f, Mapping)]
    files = [f for _, f in sorted(enumerate(raw), key=_sort_key)]
    parts = [_file_parts(f, enabled, links) for f in files]
    header = _header(report)
    if not parts:
        header.append("No Keras code in the files this run looked at.")
        return "\n\n".join(header) + "\n"

    levels = [FULL] * len(parts)
    fixed = sum(len(b) + 2 for b in header) + len(TABLE_HEAD) + 1  # blocks joined by \n\n
    total = fixed + sum(p.size(FULL) for p in parts)
    steps = [(t, i) for t in (NO_DIFF, ROW_ONLY, GONE) for i in reversed(range(len(parts)))]
    for target, i in [*steps, (GONE, -1)]:  # diffs first, then attention lists, then rows
        if total <= limit:
            note = _cut_note(parts, levels, full_report, limit)
            if total + (len(note) + 2 if note else 0) <= limit:
                text = _assemble(header, parts, levels, note)
                if len(text) <= limit:
                    return text
        if i >= 0:
            total += parts[i].size(target) - parts[i].size(levels[i])
            levels[i] = target
    return _assemble(header, [], [], "")[:limit]  # only when the header alone is too long


def _assemble(header: list[str], parts: Sequence[_FileParts], levels: Sequence[int],
              note: str) -> str:
    rows = [p.row for p, lv in zip(parts, levels, strict=True) if lv >= ROW_ONLY]
    blocks = list(header)
    if rows:
        blocks.append(TABLE_HEAD + "\n" + "\n".join(rows))
    for p, lv in zip(parts, levels, strict=True):
        blocks.extend(p.blocks(lv))
    if note:
        blocks.append(note)
    return "\n\n".join(blocks) + "\n"
