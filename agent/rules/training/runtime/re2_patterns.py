"""TF's regular expressions (RE2) on Python's ``re``, copied into a converted script whose
``tf.strings.regex_replace`` calls became ``strings_regex_replace`` (runtime/image_ops.py).

Most RE2 syntax means the same in ``re``; where it does not, the pattern is rewritten to
RE2's meaning: ``\\w``, ``\\d``, ``\\b`` are ASCII only (``re`` on ``str``: Unicode),
``\\s`` is ``[\\t\\n\\f\\r ]`` (no ``\\v``, no no-break space), ``$`` matches only at the end
of the text unless ``(?m)`` (``re``: before a final newline too), ``\\z`` is ``re``'s
``\\Z``. The rewrite's ``\\0``-``\\9`` are groups (``\\0`` the whole match; ``re`` reads an
octal escape) and ``\\\\`` a backslash; a global replace skips an empty match right after
a match, as RE2 does (``re`` replaces it). No ``__future__`` import: inlined.
"""

import re

_WORD = "0-9A-Za-z_"
_CLASS_ESCAPES = {"w": _WORD, "d": "0-9", "s": "\\t\\n\\f\\r "}
_OUTSIDE = {"w": f"[{_WORD}]", "W": f"[^{_WORD}]", "d": "[0-9]", "D": "[^0-9]",
            "s": "[\\t\\n\\f\\r ]", "S": "[^\\t\\n\\f\\r ]", "z": "\\Z",
            "b": f"(?:(?<![{_WORD}])(?=[{_WORD}])|(?<=[{_WORD}])(?![{_WORD}]))",
            "B": f"(?:(?<![{_WORD}])(?![{_WORD}])|(?<=[{_WORD}])(?=[{_WORD}]))"}


def re2_compile(pattern: str) -> "re.Pattern[str]":
    """``pattern`` (RE2 syntax) compiled with RE2's meaning of the escapes above."""
    multiline = re.match(r"\(\?[a-zA-Z]*m", pattern) is not None
    out: list[str] = []
    k, in_class = 0, False
    while k < len(pattern):
        char = pattern[k]
        if char == "\\" and k + 1 < len(pattern):
            escape = pattern[k + 1]
            if in_class and escape in _CLASS_ESCAPES:
                out.append(_CLASS_ESCAPES[escape])
            elif not in_class and escape in _OUTSIDE:
                out.append(_OUTSIDE[escape])
            else:
                out.append(pattern[k:k + 2])
            k += 2
            continue
        if in_class:
            in_class = char != "]" or bool(out and out[-1] in ("[", "[^"))
            out.append(char)
        elif char == "[":
            in_class = True
            out.append("[^" if pattern.startswith("[^", k) else "[")
            k += 2 if pattern.startswith("[^", k) else 1
            continue
        else:
            out.append("\\Z" if char == "$" and not multiline else char)
        k += 1
    return re.compile("".join(out))


def _expand(rewrite: str, match: "re.Match[str]") -> str | None:
    """RE2's rewrite of one match: ``\\N`` group N ("" when it did not take part), ``\\\\``
    a backslash; None for another escape (RE2 refuses the rewrite)."""
    out: list[str] = []
    k = 0
    while k < len(rewrite):
        if rewrite[k] == "\\" and k + 1 < len(rewrite):
            nxt = rewrite[k + 1]
            if nxt.isdigit():
                out.append(match.group(int(nxt)) or "")
            elif nxt == "\\":
                out.append("\\")
            else:
                return None
            k += 2
            continue
        out.append(rewrite[k])
        k += 1
    return "".join(out)


def re2_sub(compiled: "re.Pattern[str]", rewrite: str, text: str, replace_global: bool
            ) -> str:
    """RE2's GlobalReplace (or Replace: the first match) of ``compiled`` in ``text``."""
    out: list[str] = []
    pos, last_end = 0, -1
    for match in compiled.finditer(text):
        if match.start() == match.end() == last_end:
            continue  # RE2: no empty match right after the previous match
        replaced = _expand(rewrite, match)
        if replaced is None:  # TF: a global replace drops the match, a single one keeps it
            if not replace_global:
                return text
            replaced = ""
        out += [text[pos:match.start()], replaced]
        pos = last_end = match.end()
        if not replace_global:
            break
    out.append(text[pos:])
    return "".join(out)
