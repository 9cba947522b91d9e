"""Which module-level names hold one value the rules may fold, and which they may not.

``CHARS = '["C", "N"]'`` then ``CHARS = ast.literal_eval(CHARS)``: a name rebound at the top
level, in source order, by statements the evaluator follows has one value after its last
binding. It does not when code the evaluator does not follow can see another value: a
binding in a loop, branch, ``with``/``try`` block or function (``global``), an import or a
``def`` of the same name, an in-place change (``CHARS.append(..)``, ``CHARS[0] = ..``,
``random.shuffle(CHARS)``, also through an alias ``OTHER = CHARS``), or a statement between
two bindings that reads the name (directly or through a function it calls) other than a
binding the evaluator folded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from agent.rules import walk

# methods that change a list, dict or set in place
MUTATORS = frozenset({
    "append", "extend", "insert", "remove", "pop", "clear", "update", "setdefault", "add",
    "discard", "sort", "reverse", "popitem", "difference_update", "intersection_update",
    "symmetric_difference_update", "__setitem__", "__delitem__", "__iadd__"})
# functions that change their first argument in place (``np.random.shuffle(x)``)
_IN_PLACE = frozenset({"shuffle"})


@dataclass
class Step:
    """One top-level statement (or one small statement of a line), in source order."""

    node: cst.CSTNode
    binds: frozenset[str] = frozenset()  # names it binds
    folded: bool = False  # a binding whose value the evaluator knows
    mentions: frozenset[str] = frozenset()  # names it reads (or mentions)


@dataclass
class Steps:
    steps: list[Step] = field(default_factory=list)
    unsafe: set[str] = field(default_factory=set)  # bound where the evaluator cannot follow


def root_name(node: cst.BaseExpression) -> str | None:
    """``x`` of ``x``, ``x[0]``, ``x.a[1]``."""
    while isinstance(node, (cst.Subscript, cst.Attribute)):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def mentioned(node: cst.CSTNode) -> set[str]:
    """Every bare name under ``node`` (attribute names and keywords excluded)."""
    from agent.rules.name_reads import names_read

    return {n.value for n in names_read(node)}


def bound_inside(node: cst.CSTNode) -> set[str]:
    """Names a compound statement or a small statement binds in the module's scope (the
    names of nested defs and classes, not their bodies)."""
    out: set[str] = set()
    stack: list[cst.CSTNode] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (cst.FunctionDef, cst.ClassDef)):
            out.add(n.name.value)
            continue
        if isinstance(n, cst.Lambda):
            continue
        if isinstance(n, (cst.AssignTarget, cst.For, cst.CompFor)):
            target = n.target
            if not isinstance(n, cst.CompFor):
                out |= _target_names(target)
        elif isinstance(n, (cst.AugAssign, cst.AnnAssign)):
            out |= _target_names(n.target)
        elif isinstance(n, cst.AsName):
            out |= _target_names(n.name)
        elif isinstance(n, cst.ImportAlias):
            name = n.asname.name if n.asname is not None else n.name
            head = cst.Module([]).code_for_node(name).split(".")[0]
            out.add(head)
        elif isinstance(n, cst.NamedExpr):
            out |= _target_names(n.target)
        elif isinstance(n, cst.Del):
            out |= _target_names(n.target)
        elif isinstance(n, cst.Global):
            out |= {item.name.value for item in n.names}
        stack += walk.children(n)
    return out


def _target_names(target: cst.CSTNode) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        return {name for el in target.elements for name in _target_names(el.value)}
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return set()


def changed_at_top(module: cst.Module) -> set[str]:
    """:func:`changed_in_place` outside the module's functions and classes."""
    out: set[str] = set()
    for stmt in module.body:
        if not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            out |= changed_in_place(stmt)
    return out


def changed_in_place(module: cst.CSTNode) -> set[str]:
    """Names whose object some statement changes in place or some function rebinds
    (``global``), anywhere under ``module``."""
    out: set[str] = set()
    for n in walk.nodes(module):
        kind = type(n)
        if kind is cst.Call:
            func = n.func  # type: ignore[attr-defined]
            if isinstance(func, cst.Attribute) and func.attr.value in MUTATORS:
                name = root_name(func.value)
                if name is not None:
                    out.add(name)
            last = func.attr.value if isinstance(func, cst.Attribute) else (
                func.value if isinstance(func, cst.Name) else "")
            args = n.args  # type: ignore[attr-defined]
            if last in _IN_PLACE and args and isinstance(args[0].value, cst.Name):
                out.add(args[0].value.value)
        elif kind in (cst.AssignTarget, cst.AugAssign, cst.Del, cst.AnnAssign):
            target = n.target  # type: ignore[attr-defined]
            for el in _elements(target):
                if isinstance(el, (cst.Subscript, cst.Attribute)):
                    name = root_name(el)
                    if name is not None:
                        out.add(name)
        elif kind is cst.Global:
            out |= {item.name.value for item in n.names}  # type: ignore[attr-defined]
    return out


def _elements(target: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(target, (cst.Tuple, cst.List)):
        return [e for el in target.elements for e in _elements(el.value)]
    return [target]


def function_reads(module: cst.Module) -> dict[str, set[str]]:
    """Top-level def/class -> the names its body mentions, with those of the module's
    functions it mentions (a call between two bindings reads what they read)."""
    direct = {s.name.value: mentioned(s) for s in module.body
              if isinstance(s, (cst.FunctionDef, cst.ClassDef))}
    out = {name: set(names) for name, names in direct.items()}
    changed = True
    while changed:
        changed = False
        for name, names in out.items():
            extra = set().union(*(out[f] for f in names & out.keys() if f != name)) - names
            if extra:
                names |= extra
                changed = True
    return out


def followed(name: str, steps: list[Step], readers: dict[str, set[str]]) -> bool:
    """Whether every statement between the first and last binding of ``name`` that reads
    it is a binding the evaluator folded (so its last value is the one later code sees)."""
    at = [k for k, s in enumerate(steps) if name in s.binds]
    if len(at) < 2:
        return True
    for step in steps[at[0] + 1:at[-1]]:
        if step.folded:
            continue
        reads = set(step.mentions)
        for fn in step.mentions & readers.keys():
            reads |= readers[fn]
        if name in reads:
            return False
    return all(steps[k].folded for k in at)


def sharing(values: dict[str, object], links: dict[str, set[str]], changed: set[str]
            ) -> set[str]:
    """``changed`` and the names whose mutable value may be the same object as one of them
    (``B = A`` and ``B = [A]`` link A and B; an int or a str never changes in place)."""
    out = set(changed)
    todo = list(changed)
    while todo:
        name = todo.pop()
        for other in links.get(name, set()):
            if other not in out and mutable(values.get(other)):
                out.add(other)
                todo.append(other)
    return out


def mutable(value: object) -> bool:
    if isinstance(value, (list, dict, set)):
        return True
    if isinstance(value, tuple):
        return any(mutable(v) for v in value)
    return False


def shares(a: object, b: object) -> bool:
    """Whether ``a`` and ``b`` hold a mutable object in common (one is, or holds, the
    other): ``B = A`` and ``B = [A]`` do; ``B = list(A)`` and ``B = len(A)`` do not."""
    return mutable(a) and _holds(b, a) or mutable(b) and _holds(a, b)


def _holds(outer: object, inner: object, depth: int = 0) -> bool:
    if outer is inner:
        return True
    if depth > 8:
        return False
    items: list[object] = []
    if isinstance(outer, (list, tuple)):
        items = list(outer)
    elif isinstance(outer, dict):
        items = list(outer.values())
    return any(_holds(item, inner, depth + 1) for item in items[:1000] if mutable(item)
               or item is inner)
