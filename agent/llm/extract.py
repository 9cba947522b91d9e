"""A model's reply → the code that defines the requested piece.

Real models do not answer in one fenced block: they add prose, a usage example block, show
the Keras original before the port, use bare or ``py`` fences, answer unfenced, as a diff,
as a tool call written into the text, get cut off mid-block, or put an explanation line
inside the code. Each shape is read here; what cannot be read becomes one precise
:class:`FormatError` the model can act on (wrong name, truncated, does not parse).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

_FENCE = re.compile(r"^[ \t]*(```|~~~)[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.S | re.M)
_OPEN_FENCE = re.compile(r"^[ \t]*(```|~~~)[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n", re.M)
_THINK = re.compile(r"<think>.*?</think>", re.S)
_TOOL_TAG = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.S)
_PY_LANGS = {"python", "py", "python3", "py3", ""}
_DIFF_LANGS = {"diff", "patch", "udiff"}
_CODE_START = re.compile(r"^(import |from \S+ import |class |def |async def |@)")
_PROSE = re.compile(r"^\s*(?:[A-Z][a-z'’]*:?|[0-9]+[.)])\s+[A-Za-z`(][\w`'’,-]*\s")
MAX_PROSE_FIXES = 8


class FormatError(ValueError):
    """The reply cannot be used as code; the message tells the model what to change."""


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    closed: bool = True


def _blocks(reply: str) -> list[Block]:
    """Fenced blocks in order; an opening fence never closed is a truncated last block."""
    blocks = [Block(m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(reply)]
    end = max((m.end() for m in _FENCE.finditer(reply)), default=0)
    tail = _OPEN_FENCE.search(reply, end)
    if tail is not None:
        blocks.append(Block(tail.group(2).lower(), reply[tail.end():], closed=False))
    return blocks


def _json_code(text: str) -> str | None:
    """``code`` of a tool call the model wrote as text (``{"name": ..., "arguments": ...}``)."""
    try:
        data = json.loads(text.strip())
    except ValueError:
        return None
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            value = item.get("code")
            if isinstance(value, str):
                return value
            for v in item.values():
                stack.append(json.loads(v) if isinstance(v, str) and v.lstrip()[:1] == "{" else v)
        elif isinstance(item, list):
            stack.extend(item)
    return None


def diff_new_side(diff: str) -> str:
    """The text a unified diff leaves (context and ``+`` lines, headers dropped)."""
    out: list[str] = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---", "@@", "diff ", "index ")):
            continue
        if line.startswith("+"):
            out.append(line[1:])
        elif line.startswith(" "):
            out.append(line[1:])
        elif not line:
            out.append("")
    return "\n".join(out) + "\n"


def apply_diff(diff: str, base: str) -> str | None:
    """``base`` with each hunk's old lines replaced by its new lines; None if a hunk is absent."""
    text = base.splitlines()
    hunks: list[tuple[list[str], list[str]]] = []
    old: list[str] = []
    new: list[str] = []
    for line in [*diff.splitlines(), "@@"]:
        if line.startswith("@@") or line.startswith(("+++", "---")):
            if old or new:
                hunks.append((old, new))
            old, new = [], []
        elif line.startswith("+"):
            new.append(line[1:])
        elif line.startswith("-"):
            old.append(line[1:])
        elif line.startswith(" ") or not line:
            old.append(line[1:])
            new.append(line[1:])
    for old, new in hunks:
        at = next((i for i in range(len(text) - len(old) + 1) if text[i : i + len(old)] == old), None)
        if at is None or not old:
            return None
        text[at : at + len(old)] = new
    return "\n".join(text) + "\n"


def _is_prose(line: str) -> bool:
    """A sentence, not code: starts like English and does not parse as a statement."""
    stripped = line.strip()
    if stripped.startswith("#") or not _PROSE.match(stripped + " "):
        return False
    try:
        ast.parse(stripped)
    except SyntaxError:
        return True
    return False


def _parse(code: str) -> cst.Module:
    """Parse, turning prose lines the model left inside the code into comments."""
    for _ in range(MAX_PROSE_FIXES):
        try:
            return cst.parse_module(code)
        except cst.ParserSyntaxError as exc:
            lines = code.splitlines()
            bad = exc.raw_line - 1
            fixed = False
            for i in (bad, bad - 1):
                if 0 <= i < len(lines) and _is_prose(lines[i]):
                    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
                    lines[i] = f"{indent}# {lines[i].strip()}"
                    fixed = True
                    break
            if not fixed:
                raise
            code = "\n".join(lines) + "\n"
    return cst.parse_module(code)


def _unfenced(reply: str) -> str:
    """An unfenced reply: from its first line that starts code to its last line of code."""
    lines = reply.splitlines()
    start = next((i for i, ln in enumerate(lines) if _CODE_START.match(ln)), None)
    if start is None:
        return ""
    end = len(lines)
    while end > start + 1 and (not lines[end - 1].strip() or _is_prose(lines[end - 1])):
        end -= 1
    return "\n".join(lines[start:end]) + "\n"


def _candidates(reply: str, base: str) -> Iterator[tuple[str, str, bool]]:
    """(code, where it came from, complete) for every place a reply may hold code."""
    reply = _THINK.sub("", reply)
    for tag in _TOOL_TAG.findall(reply):
        found = _json_code(tag)
        if found is not None:
            yield found, "a tool call written as text", True
    blocks = _blocks(reply)
    for n, block in enumerate(blocks, 1):
        where = f"code block {n}"
        looks_diff = block.lang in _DIFF_LANGS or re.search(r"^@@ .* @@", block.body, re.M)
        if looks_diff:
            yield diff_new_side(block.body), f"{where} (a diff)", block.closed
            applied = apply_diff(block.body, base)
            if applied is not None:
                yield applied, f"{where} (a diff applied to the file)", block.closed
        elif block.lang in _PY_LANGS:
            yield block.body, where, block.closed
        elif block.lang == "json":
            found = _json_code(block.body)
            if found is not None:
                yield found, f"{where} (a tool call as JSON)", True
    if not blocks:
        found = _json_code(reply)
        if found is not None:
            yield found, "a tool call written as text", True
        else:
            yield _unfenced(reply), "the unfenced reply", True


def defines(module: cst.Module, qualname: str) -> bool:
    """Does ``module`` hold a definition of the piece (or, for a method, of the method)?"""
    top, _, method = qualname.partition(".")
    for stmt in module.body:
        if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)):
            name = stmt.name.value
            if not method and name == top:
                return True
            if method and name == top and isinstance(stmt, cst.ClassDef):
                return True
            if method and isinstance(stmt, cst.FunctionDef) and stmt.params.params and (
                stmt.params.params[0].name.value == "self"
            ):
                return True
    return False


def _other_names(module: cst.Module, base_names: set[str]) -> list[str]:
    return [
        s.name.value
        for s in module.body
        if isinstance(s, (cst.ClassDef, cst.FunctionDef)) and s.name.value not in base_names
    ]


def extract_piece(reply: str, qualname: str, base: str = "") -> str:
    """The code a reply gives for ``qualname``: the last parseable candidate that defines it,
    with the imports and definitions of the reply's other code prepended (the splice keeps only
    what the piece uses)."""
    try:
        base_names = {
            s.name.value
            for s in cst.parse_module(base).body
            if isinstance(s, (cst.ClassDef, cst.FunctionDef))
        }
    except cst.ParserSyntaxError:
        base_names = set()
    parsed: list[tuple[cst.Module, str]] = []
    errors: list[str] = []
    truncated: list[str] = []
    for code, where, complete in _candidates(reply, base):
        if not code.strip():
            continue
        try:
            parsed.append((_parse(code), where))
        except cst.ParserSyntaxError as exc:
            if not complete:
                truncated.append(where)
            else:
                errors.append(f"{where} does not parse (line {exc.raw_line}: {exc.message})")
    defining = [(m, w) for m, w in parsed if defines(m, qualname)]
    if not defining:
        top = qualname.partition(".")[0]
        if truncated:
            raise FormatError(
                f"the reply was cut off inside {truncated[-1]} (the fence is never closed and "
                f"the code is incomplete); reply with the complete code of `{qualname}` only, "
                "without explanations, so it fits"
            )
        others = sorted({n for m, _ in parsed for n in _other_names(m, base_names)})
        if others and "." not in qualname:
            raise FormatError(
                f"the reply defines {', '.join(f'`{n}`' for n in others)} but no `{top}`; the "
                f"rest of the file calls it `{top}`, so the definition must keep that name"
            )
        if errors:
            raise FormatError("; ".join(errors[-2:]))
        if not parsed:
            raise FormatError("the reply has no ```python code block")
        raise FormatError(f"the reply's code defines no `{qualname}`")
    chosen, where = defining[-1]
    extra: list[cst.BaseStatement] = []
    chosen_names = {s.name.value for s in chosen.body if isinstance(s, (cst.ClassDef, cst.FunctionDef))}
    for module, other in parsed:
        if other == where and module is chosen:
            continue
        for stmt in module.body:
            if isinstance(stmt, cst.SimpleStatementLine) and any(
                isinstance(x, (cst.Import, cst.ImportFrom)) for x in stmt.body
            ):
                extra.insert(0, stmt)
            elif isinstance(stmt, (cst.ClassDef, cst.FunctionDef)) and stmt.name.value not in chosen_names:
                if defines(cst.Module(body=[stmt]), qualname):
                    continue  # an earlier version of the piece (e.g. the Keras original)
                extra.append(stmt)
                chosen_names.add(stmt.name.value)
    imports = [s for s in extra if isinstance(s, cst.SimpleStatementLine)]
    defs = [s for s in extra if not isinstance(s, cst.SimpleStatementLine)]
    return chosen.with_changes(body=[*imports, *chosen.body, *defs]).code
