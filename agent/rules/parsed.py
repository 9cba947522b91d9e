"""One ``ast`` parse and one ``ast.walk`` per text, shared by the passes that read it.

The rules parse the same text several times (the line index and the function gate read the
source; the utilities pass and the import fixer read the converted code, unchanged most of
the time). Keyed by the text itself, so an answer can never be stale; a few recent texts are
kept. The trees are shared: callers only read them.
"""

from __future__ import annotations

import ast
import re
import threading
from collections.abc import Callable

_LOCK = threading.Lock()  # the caches are shared by threads that convert files
_KEEP = 4  # recent texts kept: one conversion reads a few; more only keep garbage for the GC
_TREES: dict[str, ast.Module] = {}
_WALKS: dict[int, tuple[ast.AST, list[ast.AST]]] = {}


def parse(text: str) -> ast.Module:
    """``ast.parse(text)`` (raises SyntaxError/ValueError the same), shared per text."""
    tree = _TREES.get(text)
    if tree is None:
        tree = ast.parse(text)
        with _LOCK:
            while len(_TREES) >= _KEEP:
                _TREES.pop(next(iter(_TREES)))
            _TREES[text] = tree
    return tree


def walk(tree: ast.AST) -> list[ast.AST]:
    """``list(ast.walk(tree))``, done once per tree (the tree is kept with its list, so an
    id is never reused while its entry lives)."""
    entry = _WALKS.get(id(tree))
    if entry is not None and entry[0] is tree:
        return entry[1]
    nodes = breadth_first(tree)
    with _LOCK:
        while len(_WALKS) >= _KEEP:
            _WALKS.pop(next(iter(_WALKS)))
        _WALKS[id(tree)] = (tree, nodes)
    return nodes


def breadth_first(tree: ast.AST) -> list[ast.AST]:
    """The nodes ``ast.walk`` yields, in its order, without its generators."""
    out = [tree]
    k = 0
    while k < len(out):
        node = out[k]
        k += 1
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, ast.AST):
                out.append(value)
            elif isinstance(value, list):
                out += [item for item in value if isinstance(item, ast.AST)]
    return out


def forget() -> None:
    """Drop the kept trees, walks and words (a conversion's end: they die now by reference
    counting instead of being walked by the collector's next passes, young then old)."""
    with _LOCK:
        _TREES.clear()
        _WALKS.clear()
        _WORDS.clear()


_HEADS = (16, 64, 256)  # lines of the prefixes tried before the whole text


def head(text: str, enough: Callable[[list[ast.stmt]], bool]) -> list[ast.stmt] | None:
    """The first top-level statements of ``text``, from a parse of a prefix of its lines
    when ``enough`` says they hold what the caller reads (a pass that reads only the
    import block need not build the tree of the whole file). A statement cannot reach back
    over a line the tokenizer completed, so every statement of a prefix but the last is
    the whole text's; the last may go on and is left out. None: no prefix would do (the
    caller parses the whole text). Whether the rest of the text parses is not known."""
    cut, found = -1, 0
    for lines in _HEADS:
        while found < lines:
            cut = text.find("\n", cut + 1)
            if cut < 0:
                return None  # a short text: the whole parse is as cheap
            found += 1
        try:
            body = ast.parse(text[:cut + 1]).body[:-1]
        except (SyntaxError, ValueError):  # cut inside a string or brackets: a longer one
            continue
        if enough(body):
            return body
    return None


_WORD = re.compile(r"\w+")
_WORDS: dict[str, frozenset[str]] = {}


def words(text: str) -> frozenset[str]:
    """The words of ``text`` (maximal runs of word characters), shared per text: a gate
    asking whether any of many identifiers is written as a whole word (what ``\\b(?:a|b)\\b``
    asks) reads a set instead of scanning the text once per pattern."""
    found = _WORDS.get(text)
    if found is None:
        found = frozenset(_WORD.findall(text))
        with _LOCK:
            while len(_WORDS) >= _KEEP:
                _WORDS.pop(next(iter(_WORDS)))
            _WORDS[text] = found
    return found
