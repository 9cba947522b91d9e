"""Wrap the lines the rules wrote at 100 characters; the user's own lines stay as they were.

A line is the tool's when its text does not occur in the original file. Long lines are split
at the outermost bracket, one argument per line with a trailing comma (black's style), and
again while a piece is still too long; a trailing comment moves above its statement.
"""

from __future__ import annotations

import io
import tokenize

LIMIT = 100
_OPEN = {"(": ")", "[": "]", "{": "}"}
_FSTRING_START = getattr(tokenize, "FSTRING_START", -1)
_FSTRING_END = getattr(tokenize, "FSTRING_END", -1)


def wrap_new_lines(code: str, original: str, limit: int = LIMIT) -> str:
    """``code`` with every line longer than ``limit`` that is not in ``original`` wrapped."""
    if all(len(line) <= limit for line in code.splitlines()):
        return code
    theirs = {line.strip() for line in original.splitlines()}
    in_strings = _string_lines(code)
    out: list[str] = []
    for number, line in enumerate(code.splitlines(), start=1):
        if len(line) > limit and line.strip() not in theirs and number not in in_strings:
            out.extend(wrap_line(line, limit))
        else:
            out.append(line)
    return "\n".join(out) + ("\n" if code.endswith("\n") else "")


def wrap_line(line: str, limit: int = LIMIT) -> list[str]:
    """One logical line → lines of at most ``limit`` where brackets allow it."""
    indent = line[: len(line) - len(line.lstrip())]
    if line.rstrip().endswith("\\"):
        return [line]
    tokens = _tokens(line.strip())
    if tokens is None:
        return [line]
    body, comment = line.strip(), ""
    if tokens and tokens[-1].type == tokenize.COMMENT:
        col = tokens[-1].start[1]
        body, comment = line.strip()[:col].rstrip(), tokens[-1].string
        tokens = tokens[:-1]
    if not body:
        return _comment_lines(indent, comment, limit)
    lines = _comment_lines(indent, comment, limit) if comment else []
    if len(indent + body) <= limit:
        return lines + [indent + body]
    split = _outer_bracket(tokens)
    if split is None:
        return lines + [indent + body]
    start, end, commas = split
    head, inner, tail = body[: start + 1], body[start + 1 : end], body[end:]
    pieces = _split(inner, [c - start - 1 for c in commas])
    deeper = indent + "    "
    lines.append(indent + head)
    for piece in pieces:
        text = piece if piece.endswith(",") or len(pieces) == 1 and not commas else piece + ","
        lines.extend(wrap_line(deeper + text, limit))
    lines.append(indent + tail)
    return lines


def _comment_lines(indent: str, comment: str, limit: int) -> list[str]:
    """A long comment over several lines, at word boundaries."""
    words = comment[1:].split()
    lines: list[str] = []
    cur = indent + "#"
    for word in words:
        if len(cur) + 1 + len(word) > limit and cur != indent + "#":
            lines.append(cur)
            cur = indent + "#  "  # continuation: indented under the first line's text
        cur += " " + word
    lines.append(cur)
    return lines


def _string_lines(code: str) -> set[int]:
    """Lines inside (or starting) a multi-line string: never split."""
    lines: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                lines.update(range(tok.start[0], tok.end[0] + 1))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return set(range(1, code.count("\n") + 2))
    return lines


def _tokens(text: str) -> list[tokenize.TokenInfo] | None:
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(text + "\n").readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    return [t for t in toks if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER,
                                              tokenize.INDENT, tokenize.DEDENT)]


def _outer_bracket(tokens: list[tokenize.TokenInfo]) -> tuple[int, int, list[int]] | None:
    """(column of the widest outermost opening bracket, of its closing one, its commas).

    A comprehension or a lambda directly inside the bracket owns the commas there
    (``for k, v in ...``, ``lambda a, b: ...``): such a bracket is never split at them.
    """
    depth = 0
    start = 0
    commas: list[int] = []
    opaque = False
    best: tuple[int, int, list[int]] | None = None
    in_fstring = 0  # Python 3.12 tokenizes f-strings: their braces are not code brackets
    for tok in tokens:
        if tok.type == _FSTRING_START:
            in_fstring += 1
        elif tok.type == _FSTRING_END:
            in_fstring -= 1
        if tok.type == tokenize.NAME and depth == 1 and tok.string in ("for", "lambda"):
            opaque = True
        if tok.type != tokenize.OP or in_fstring:
            continue
        if tok.string in _OPEN:
            if depth == 0:
                start, commas, opaque = tok.start[1], [], False
            depth += 1
        elif tok.string in _OPEN.values():
            depth -= 1
            if depth < 0:
                return None
            end = tok.start[1]
            if depth == 0 and end > start + 1 and (best is None or end - start > best[1] - best[0]):
                best = (start, end, [] if opaque else commas)
        elif tok.string == "," and depth == 1:
            commas.append(tok.start[1])
    return best if depth == 0 else None


def _split(inner: str, commas: list[int]) -> list[str]:
    pieces: list[str] = []
    at = 0
    for c in commas:
        pieces.append(inner[at:c].strip() + ",")
        at = c + 1
    rest = inner[at:].strip()
    if rest:
        pieces.append(rest)
    return pieces
