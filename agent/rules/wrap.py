"""Wrap the lines the rules wrote at 100 characters; the user's own lines stay as they were.

A line is the tool's when its text does not occur in the original file. Long lines are split
at the outermost bracket, one argument per line with a trailing comma (black's style), and
again while a piece is still too long; a trailing comment moves above its statement.
"""

from __future__ import annotations

import io
import tokenize

LIMIT = 100
LONGEST_TAIL = 2_000  # what follows a bracket is wrapped again only up to this: each pass
# re-reads the rest of the line, so a chain of thousands of calls would take minutes
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
    if len(tokens) == 1 and tokens[0].type == tokenize.STRING and body.startswith('"""'):
        return lines + _docstring_lines(indent, body, limit)
    brackets = _outer_brackets(tokens)
    if not brackets:
        return lines + [indent + body]
    start, end, commas = max(brackets, key=lambda b: b[1] - b[0])
    if len(indent) + start + 1 > limit:  # the head is too long: the first bracket that fits
        start, end, commas = next((b for b in brackets if len(indent) + b[0] + 1 <= limit),
                                  (start, end, commas))
        targets = _targets(tokens)
        if len(indent) + start + 1 > limit and targets:
            return lines + _targets_split(indent, body, targets, limit)
    head, inner, tail = body[: start + 1], body[start + 1 : end], body[end:]
    if len(tail) > LONGEST_TAIL:  # only the first link would be split: leave the line whole
        return lines + [indent + body]
    pieces = _split(inner, [c - start - 1 for c in commas])
    deeper = indent + "    "
    lines.append(indent + head)
    for piece in pieces:
        text = piece if piece.endswith(",") or len(pieces) == 1 and not commas else piece + ","
        lines.extend(wrap_line(deeper + text, limit))
    lines.extend(_tail_lines(indent, tail, limit))
    return lines


def _tail_lines(indent: str, tail: str, limit: int) -> list[str]:
    """What follows a closing bracket (``).method(...)``), wrapped in turn: the bracket
    stands in for a name while the rest is split (``_.method(...)``)."""
    if len(indent + tail) <= limit or len(tail) < 2:
        return [indent + tail]
    wrapped = wrap_line(indent + "_" + tail[1:], limit)
    k = next((k for k, line in enumerate(wrapped) if line.startswith(indent + "_")), None)
    if k is None:
        return [indent + tail]
    wrapped[k] = indent + tail[0] + wrapped[k][len(indent) + 1:]
    return wrapped


def _targets(tokens: list[tokenize.TokenInfo]) -> list[int]:
    """The columns of the commas between the targets of ``a, b, c = value``; [] otherwise."""
    depth = 0
    commas: list[int] = []
    for tok in tokens:
        if tok.type != tokenize.OP:
            continue
        if tok.string in _OPEN:
            depth += 1
        elif tok.string in _OPEN.values():
            depth -= 1
        elif depth == 0 and tok.string == ",":
            commas.append(tok.start[1])
        elif depth == 0 and tok.string == "=":
            return [*commas, tok.start[1]] if commas else []
        elif depth == 0 and tok.string not in (".", "*"):
            return []
    return []


def _targets_split(indent: str, body: str, targets: list[int], limit: int) -> list[str]:
    """``a, b, c = value`` with a long target list: the targets one per line in brackets."""
    *commas, eq = targets
    pieces = _split(body[:eq].rstrip(), commas)
    deeper = indent + "    "
    lines = [indent + "("]
    lines += [deeper + (p if p.endswith(",") else p + ",") for p in pieces]
    return lines + _tail_lines(indent, ") " + body[eq:], limit)


def _docstring_lines(indent: str, body: str, limit: int) -> list[str]:
    """A one-line docstring over ``limit``: its words over several lines (the closing quotes
    on the last), as a docstring written by hand."""
    words = body[3:-3].split()
    if not words:
        return [indent + body]
    lines: list[str] = []
    cur = indent + '"""' + words[0]
    for word in words[1:]:
        if len(cur) + 1 + len(word) > limit:
            lines.append(cur)
            cur = indent + word
        else:
            cur += " " + word
    if len(cur) + 3 > limit:
        lines.append(cur)
        cur = indent
    return [*lines, cur + '"""']


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


def _outer_brackets(tokens: list[tokenize.TokenInfo]) -> list[tuple[int, int, list[int]]]:
    """(column of each outermost opening bracket, of its closing one, its commas), left to
    right; [] when the brackets do not balance.

    A comprehension or a lambda directly inside the bracket owns the commas there
    (``for k, v in ...``, ``lambda a, b: ...``): such a bracket is never split at them.
    """
    depth = 0
    start = 0
    commas: list[int] = []
    opaque = False
    found: list[tuple[int, int, list[int]]] = []
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
                return []
            end = tok.start[1]
            if depth == 0 and end > start + 1:
                found.append((start, end, [] if opaque else commas))
        elif tok.string == "," and depth == 1:
            commas.append(tok.start[1])
    return found if depth == 0 else []


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
