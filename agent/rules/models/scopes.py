"""The names a statement reads from the block around it.

A ``def`` (a ``class``'s methods too) reads from its module only the names it does not bind
itself: ``logits = actor(x)`` inside ``sample_action`` makes ``logits`` local there, so a module-level ``logits = ...`` that
built a converted model is not "still needed" by that function (Python's rule: a name bound
anywhere in a function is local throughout it, unless declared ``global``/``nonlocal``).
"""

from __future__ import annotations

import ast

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def outer_reads(node: ast.AST) -> set[str]:
    """Names ``node`` reads that come from the enclosing block (conservative: when unsure,
    a name counts as read)."""
    if isinstance(node, ast.ClassDef):
        return _class_reads(node)
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    args = node.args
    local = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    local |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    declared: set[str] = set()
    for stmt in node.body:
        for sub in own_scope(stmt):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                local.add(sub.id)
            elif isinstance(sub, (ast.Global, ast.Nonlocal)):
                declared |= set(sub.names)
            elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                local.add(sub.name)
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                local |= {(a.asname or a.name).split(".")[0] for a in sub.names}
    local -= declared
    outside = [*node.decorator_list, *args.defaults, *(d for d in args.kw_defaults if d)]
    reads = {n.id for part in outside for n in ast.walk(part) if isinstance(n, ast.Name)}
    body = {n.id for stmt in node.body for n in ast.walk(stmt) if isinstance(n, ast.Name)}
    return reads | (body - local)


def _class_reads(node: ast.ClassDef) -> set[str]:
    """A class reads its bases, keywords and decorators; its methods only what they do not
    bind (``def call(self, x)`` does not read a module-level ``x``: class-level names are not
    visible in methods either); other class-body statements count whole."""
    outside = [*node.bases, *(k.value for k in node.keywords), *node.decorator_list]
    reads = {n.id for part in outside for n in ast.walk(part) if isinstance(n, ast.Name)}
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            reads |= outer_reads(stmt)
        else:  # class-level bindings (``size = WIDTH``) are not reads; ``size += 1`` is
            reads |= {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)
                      and (not isinstance(n.ctx, ast.Store) or isinstance(stmt, ast.AugAssign))}
    return reads


def own_scope(node: ast.AST) -> list[ast.AST]:
    """``node`` and its descendants, not entering nested functions, lambdas or classes
    (their own bindings are theirs; their names are still read conservatively above)."""
    if isinstance(node, _SCOPES):
        return [node]
    out: list[ast.AST] = []
    stack = [node]
    while stack:
        cur = stack.pop()
        out.append(cur)
        for child in ast.iter_child_nodes(cur):
            if isinstance(child, _SCOPES):
                out.append(child)  # its name is bound here; its body is not
                continue
            stack.append(child)
    return out
