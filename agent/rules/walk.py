"""Read-only traversal of libcst trees without libcst's visitor machinery.

A ``CSTVisitor`` goes through ``_visit_and_replace_children`` for every node, whitespace and
punctuation included, which costs about as much as building the tree again; the rules only
read names, attributes and calls. ``children`` reads a node's dataclass fields directly
(skipping the whitespace and punctuation fields, which hold no code), in libcst's order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Container, Iterator

import libcst as cst

# fields that hold only whitespace, comments or punctuation tokens
_TOKEN_FIELDS = frozenset({
    "lpar", "rpar", "comma", "colon", "first_colon", "second_colon", "dot", "equal",
    "semicolon", "lbrace", "rbrace", "lbracket", "rbracket", "leading_lines",
    "lines_after_decorators", "header", "footer", "trailing_whitespace", "newline",
    "empty_lines", "asynchronous", "posonly_ind", "relative", "leading_whitespace",
})

# libcst's own visiting (source) order where it differs from the dataclass fields' order
_FIELDS: dict[type, tuple[str, ...]] = {
    cst.Arg: ("keyword", "value"),
    cst.FunctionDef: ("decorators", "name", "type_parameters", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    cst.IfExp: ("body", "test", "orelse"),
    cst.ExceptHandler: ("type", "name", "body"),
}


def _fields(cls: type) -> tuple[str, ...]:
    names = tuple(f.name for f in dataclasses.fields(cls)
                  if f.name not in _TOKEN_FIELDS and not f.name.startswith("whitespace"))
    _FIELDS[cls] = names
    return names


_IS_NODE: dict[type, bool] = {}  # per type: a node (libcst's bases are ABCs: slow checks)


def _is_node(value: object) -> bool:
    cls = type(value)
    found = _IS_NODE.get(cls)
    if found is None:
        found = _IS_NODE[cls] = issubclass(cls, cst.CSTNode)
    return found


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The child nodes of ``node`` that can hold code (no whitespace/punctuation tokens)."""
    cls = type(node)
    names = _FIELDS.get(cls) or _fields(cls)
    out: list[cst.CSTNode] = []
    for name in names:
        value = getattr(node, name)
        if _is_node(value):
            out.append(value)
        elif type(value) in (list, tuple):
            out += [item for item in value if _is_node(item)]
    return out


def nodes(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """``node`` and every node under it that can hold code, depth first, parents first."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        found = children(current)
        found.reverse()
        stack += found


def mentions(node: cst.CSTNode, words: Container[str]) -> bool:
    """Whether a name under ``node`` (an attribute's name included) is one of ``words``:
    a gate read instead of a transformer's visit, which rebuilds every node it passes."""
    return any(type(n) is cst.Name and n.value in words for n in nodes(node))


_ALL: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}  # per type: fields, str ones


def _all_fields(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names = tuple(f.name for f in dataclasses.fields(cls))
    texts = tuple(f.name for f in dataclasses.fields(cls) if "str" in str(f.type))
    _ALL[cls] = (names, texts)
    return names, texts


def every(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """``node`` and every node under it, whitespace, comments and punctuation included."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        cls = type(current)
        for name in (_ALL.get(cls) or _all_fields(cls))[0]:
            value = getattr(current, name)
            if _is_node(value):
                stack.append(value)
            elif type(value) in (list, tuple):
                stack += [item for item in value if _is_node(item)]


def strings(node: cst.CSTNode) -> list[str]:
    """The strings ``node`` itself holds (a name, a literal, a comment, whitespace). The
    code of a tree is the strings of its nodes and fixed tokens (keywords, operators,
    dots): a word in none of them is not in the code, found without generating it."""
    cls = type(node)
    return [value for name in (_ALL.get(cls) or _all_fields(cls))[1]
            if type(value := getattr(node, name)) is str]
