"""Data code through the op table, statement by statement: module-level statements and the
statements of plain top-level functions (what the model and training rules left).

A statement whose framework names all map is rewritten, with array arguments made tensors
(agent.rules.ops.arrays); one that does not map stays exactly as written and is reported.
agent.rules.ops.flow decides which rewritten statements may stay rewritten: a TF value never
reaches torch code, nor the reverse (a statement where they would meet stays as written).
Functions handed to ``tf.data`` (``ds.map(fn)``) and classes are left to their own rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.ops.eager_reads import join_eager_reads
from agent.rules.ops.flow import ARRAY, PLAIN, TF, TORCH, Unit, settle
from agent.rules.ops.functions import uses_framework
from agent.rules.ops.rewrite import rewrite_node

# The families the op table covers: what it leaves there is reported here.
_OP_FAMILIES = ("tensorflow.", "keras.ops.", "keras.backend.", "keras.random.",
                "keras.activations.")
_COMPOUND_FIELDS = {cst.If: ("test",), cst.While: ("test",), cst.For: ("target", "iter"),
                    cst.With: ("items",)}


@dataclass
class Rewritten:
    module: cst.Module
    changes: list[tuple[int, str, str]] = field(default_factory=list)  # (line, rule, message)
    unmapped: list[tuple[int, str, str]] = field(default_factory=list)  # (line, name, reason)


@dataclass
class _Piece:
    """One unit's code: a simple statement line or a compound statement's header."""

    node: cst.CSTNode  # the SimpleStatementLine or the compound statement
    header: bool
    scope: str
    new: cst.CSTNode | None = None
    problems: list[str] = field(default_factory=list)
    extra: bool = False  # the flow of a call's arguments, not code of its own


# ---------------------------------------------------------------------------- names
def _base(node: cst.BaseExpression) -> cst.Name | None:
    while isinstance(node, (cst.Attribute, cst.Subscript, cst.Call)):
        node = node.func if isinstance(node, cst.Call) else node.value
    return node if isinstance(node, cst.Name) else None


def _is_size(node: cst.BaseExpression) -> bool:
    """``x.shape``, ``x.shape[k]`` or ``len(x)``: Python ints in torch and NumPy alike."""
    if isinstance(node, cst.Subscript):
        node = node.value
    if isinstance(node, cst.Call):
        return isinstance(node.func, cst.Name) and node.func.value == "len"
    return isinstance(node, cst.Attribute) and node.attr.value == "shape"


class _Names(cst.CSTVisitor):
    """Names read, and names written (assignment targets, mutated objects), in one unit."""

    def __init__(self, imports: ImportTable, mutations: bool = True, pairs: bool = True
                 ) -> None:
        self.imports = imports
        self.mutations = mutations
        self.with_pairs = pairs
        self.reads: set[str] = set()
        self.writes: set[str] = set()
        self.skip: set[int] = set()
        # binary operations: (names on the left, names on the right, right uses the framework)
        self.pairs: list[tuple[set[str], set[str], bool]] = []
        self.operands: dict[int, tuple[set[str], bool]] = {}  # id(node) -> (reads, framework)
        self.bound: list[set[str]] = []  # the variables of the comprehensions entered

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if not self.with_pairs:
            return
        left, left_framework = self._operand(node.left)
        right, right_framework = self._operand(node.right)
        if not left_framework:  # else a tensor once converted
            self.pairs.append((left, right, right_framework))

    def _operand(self, node: cst.BaseExpression) -> tuple[set[str], bool]:
        """Names an operand reads and whether it uses the framework; a chain ``a + b + ...``
        is summed up once from its parts (visiting each part again per link is quadratic)."""
        known = self.operands.get(id(node))
        if known is None:
            if _is_size(node):  # ``x.shape[1]``: an int (a tuple) whichever framework made x
                known = (set(), False)
            elif isinstance(node, cst.BinaryOperation):
                left, left_framework = self._operand(node.left)
                right, right_framework = self._operand(node.right)
                known = (left | right, left_framework or right_framework)
            else:
                names = _Names(self.imports, False, False)
                node.visit(names)
                known = (names.reads, uses_framework(node, self.imports))
            self.operands[id(node)] = known
        return known

    def target(self, node: cst.BaseExpression) -> None:
        if isinstance(node, cst.Name):
            self.writes.add(node.value)
            self.skip.add(id(node))
        elif isinstance(node, (cst.Tuple, cst.List)):
            for el in node.elements:
                self.target(el.value)
        elif isinstance(node, cst.StarredElement):
            self.target(node.value)
        else:
            base = _base(node)
            if base is not None:
                self.writes.add(base.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            self.target(t.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self.target(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.target(node.target)
        base = _base(node.target)
        if base is not None:
            self.reads.add(base.value)

    def visit_For(self, node: cst.For) -> None:
        self.target(node.target)

    def _comprehension(self, node: cst.CSTNode) -> None:
        """A comprehension's variables are its own (Python 3): neither written nor read
        outside it, so ``[x for _ in ...]`` links no statement to another's ``_``."""
        bound = _Names(self.imports, False, False)
        comp = getattr(node, "for_in", None)
        while isinstance(comp, cst.CompFor):
            bound.target(comp.target)
            comp = comp.inner_for_in
        self.bound.append(bound.writes)

    def _left(self, original_node: cst.CSTNode) -> None:
        self.bound.pop()

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension
    leave_ListComp = leave_SetComp = leave_DictComp = leave_GeneratorExp = _left

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self.target(node.asname.name)

    def visit_Call(self, node: cst.Call) -> bool:
        if _to_numpy(node, self.imports):  # t.numpy(): an array, whichever framework made t
            self.reads.add(ARRAY)
            return False
        if self.mutations and isinstance(node.func, cst.Attribute):  # obj.append(x)
            base = _base(node.func.value)
            if base is not None and self.imports.resolve(base) is None:
                self.writes.add(base.value)
        return True

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if self.imports.resolve(node) is not None:
            return False
        self.skip.add(id(node.attr))
        return True

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.skip.add(id(node.keyword))

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) not in self.skip and self.imports.resolve(node) is None and not any(
                node.value in names for names in self.bound):
            self.reads.add(node.value)


def _to_numpy(node: cst.Call, imports: ImportTable) -> bool:
    """``t.numpy()`` on framework-free code: TF and torch tensors both give an ndarray, so
    the names in ``t`` do not carry a framework past it."""
    func = node.func
    return (isinstance(func, cst.Attribute) and func.attr.value == "numpy" and not node.args
            and not uses_framework(func.value, imports))


class _Calls(cst.CSTVisitor):
    """Arguments passed to the script's own functions, classes and plain classes' methods:
    (parameters, names in the argument, whether the argument uses the framework), per
    argument. ``callees``: a function's or class's name, or ``.method``, -> (scope,
    parameters) of each callee it may be."""

    def __init__(self, callees: dict[str, list[tuple[str, list[str]]]], imports: ImportTable
                 ) -> None:
        self.callees = callees
        self.imports = imports
        self.found: list[tuple[list[str], set[str], bool]] = []

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        key = func.value if isinstance(func, cst.Name) else \
            f".{func.attr.value}" if isinstance(func, cst.Attribute) else ""
        for scope, params in self.callees.get(key, ()):
            k = 0
            for arg in node.args:
                names = _Names(self.imports, pairs=False)
                arg.value.visit(names)
                if arg.star or (arg.keyword is None and k >= len(params)) or (
                        arg.keyword is not None and arg.keyword.value not in params):
                    targets = params  # *args, **kwargs: any parameter may receive it
                elif arg.keyword is not None:
                    targets = [arg.keyword.value]
                else:
                    targets = [params[k]]
                    k += 1
                self.found.append(([f"{scope}::{p}" for p in targets], names.reads,
                                   uses_framework(arg.value, self.imports)))


def _header_nodes(stmt: cst.BaseCompoundStatement) -> list[cst.CSTNode]:
    fields = _COMPOUND_FIELDS.get(type(stmt), ())
    out: list[cst.CSTNode] = []
    for name in fields:
        value = getattr(stmt, name)
        out += list(value) if isinstance(value, (list, tuple)) else [value]
    return out


def _bodies(stmt: cst.BaseCompoundStatement) -> Iterator[cst.BaseSuite]:
    yield stmt.body
    orelse = getattr(stmt, "orelse", None)
    if isinstance(orelse, (cst.Else, cst.Finally)):
        yield orelse.body
    for handler in getattr(stmt, "handlers", ()):
        yield handler.body
    final = getattr(stmt, "finalbody", None)
    if final is not None:
        yield final.body


def _statements(suite: cst.BaseSuite) -> tuple[list[cst.BaseStatement], bool]:
    """The statements of a block, and whether they can be rewritten one by one (a one-line
    suite, ``if x: y = f(x)``, is read for the flow but kept as written)."""
    if isinstance(suite, cst.IndentedBlock):
        return list(suite.body), False
    assert isinstance(suite, cst.SimpleStatementSuite)
    return [cst.SimpleStatementLine(body=suite.body)], True


# ---------------------------------------------------------------------------- units
class _Builder:
    def __init__(self, imports: ImportTable, module: cst.Module, skip: set[str]) -> None:
        self.imports = imports
        self.modules, self.numpy = _imported(module)
        self.functions = {s.name.value: s for s in module.body
                          if isinstance(s, cst.FunctionDef) and s.name.value not in skip}
        self.callees = {name: [(name, _params(fn))] for name, fn in self.functions.items()}
        self.skip = skip
        self.selves: dict[str, tuple[str, str]] = {}  # method scope -> (self's name, flow name)
        self.classes = {c.name.value for c in module.body
                        if isinstance(c, cst.ClassDef) and self.plain_class(c)}
        for cls in module.body:
            if isinstance(cls, cst.ClassDef) and cls.name.value in self.classes:
                for fn, scope in _methods(cls):
                    params = _params(fn)
                    self.selves[scope] = (params[0], f"{cls.name.value}::self")
                    key = cls.name.value if fn.name.value == "__init__" else f".{fn.name.value}"
                    self.callees.setdefault(key, []).append((scope, params[1:]))
        self.locals: dict[str, set[str]] = {}
        self.traced: dict[str, cst.FunctionDef] = {}  # under @tf.function
        self.units: list[Unit] = []
        self.pieces: list[_Piece] = []

    def scoped(self, names: set[str], scope: str, read: bool = True) -> set[str]:
        """Names as the flow sees them: a function's locals prefixed with its name, imported
        modules dropped (a NumPy module read marks what the statement writes as arrays)."""
        local = self.locals.get(scope, set())
        this, shared = self.selves.get(scope, ("", ""))
        out = {shared if n == this else f"{scope}::{n}" if n in local else n
               for n in names - self.modules}
        return out | ({ARRAY} if read and names & self.numpy else set())

    def add(self, node: cst.CSTNode, parts: list[cst.CSTNode], header: bool, scope: str,
            opaque: bool = False) -> None:
        visitor = _Names(self.imports)
        if header and isinstance(node, cst.For):
            visitor.target(node.target)
        for part in parts:
            part.visit(visitor)
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):  # a definition kept as is:
            visitor.reads -= visitor.writes | _defined(node)  # only its free names flow
            visitor.writes, visitor.pairs = {node.name.value}, []
        reads = self.scoped(visitor.reads, scope)
        writes = self.scoped(visitor.writes, scope, read=False)
        key = len(self.units)
        calls = _Calls(self.callees, self.imports)
        for part in parts:
            part.visit(calls)
        writes.add(f"#{key}")  # what this statement computes, as its operands see it
        if isinstance(node, cst.SimpleStatementLine) and scope and any(
                isinstance(s, cst.Return) for s in node.body):
            writes.add(scope)  # the function's result
        piece = _Piece(node, header, scope)
        framework = any(uses_framework(p, self.imports) for p in parts)
        status = PLAIN
        if framework:
            status = TF
            if not opaque:
                status = self.convert(piece, parts)
        pairs = [(self.scoped(left, scope), self.scoped(right, scope)
                  | ({f"#{key}"} if framework else set()))
                 for left, right, framework in visitor.pairs]
        self.units.append(Unit(key, reads, writes, status, scope, pairs=pairs))
        self.pieces.append(piece)
        for targets, names, framework in calls.found:  # arguments flow into the parameters
            args = self.scoped(names, scope) | ({f"#{key}"} if framework else set())
            self.units.append(Unit(len(self.units), args, set(targets), PLAIN, scope))
            self.pieces.append(_Piece(node, header, scope, extra=True))

    def convert(self, piece: _Piece, parts: list[cst.CSTNode]) -> str:
        new_parts: list[cst.CSTNode] = []
        for part in parts:
            new, problems = rewrite_node(part, self.imports, {}, frozenset())
            piece.problems += [p for p in problems if p not in piece.problems]
            new_parts.append(new)
        if piece.problems or any(uses_framework(p, self.imports) for p in new_parts):
            return TF
        piece.new = new_parts[0] if not piece.header else _with_header(piece.node, new_parts)
        return TORCH

    def block(self, statements: list[cst.BaseStatement], scope: str, opaque: bool = False
              ) -> None:
        for stmt in statements:
            if isinstance(stmt, cst.SimpleStatementLine):
                if any(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body):
                    continue
                self.add(stmt, [stmt], False, scope, opaque)
            elif isinstance(stmt, cst.FunctionDef) and not scope and \
                    stmt.name.value in self.functions and self.plain_decorators(stmt):
                if stmt.decorators:
                    self.traced[stmt.name.value] = stmt
                self.function(stmt)
            elif isinstance(stmt, cst.ClassDef) and not scope and \
                    stmt.name.value in self.classes:
                self.methods(stmt)
            elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                self.add(stmt, [stmt], False, scope, opaque=True)
            elif isinstance(stmt, (cst.If, cst.While, cst.For, cst.With, cst.Try)):
                headers = _header_nodes(stmt)
                if headers:
                    self.add(stmt, headers, True, scope, opaque)
                for suite in _bodies(stmt):
                    inner, one_line = _statements(suite)
                    self.block(inner, scope, opaque or one_line)
                if isinstance(stmt, cst.If) and isinstance(stmt.orelse, cst.If):
                    self.block([stmt.orelse], scope, opaque)  # elif: a header of its own
            else:
                self.add(stmt, [stmt], False, scope, opaque=True)

    def plain_decorators(self, fn: cst.FunctionDef) -> bool:
        """No decorator, or only ``@tf.function`` (it asks TF to trace the function)."""
        return all(self.imports.resolve(d.decorator.func if isinstance(d.decorator, cst.Call)
                                        else d.decorator) == "tensorflow.function"
                   for d in fn.decorators)

    def function(self, fn: cst.FunctionDef, scope: str = "") -> None:
        name = scope or fn.name.value
        assigned = _Names(self.imports, mutations=False, pairs=False)
        fn.body.visit(assigned)
        self.locals[name] = set(_params(fn)) | assigned.writes
        inner, one_line = _statements(fn.body)
        self.block(inner, name, one_line)

    def plain_class(self, cls: cst.ClassDef) -> bool:
        """A class no other rule converts: a Keras callback made a ``pl.Callback``, or one
        without bases, whose body is undecorated methods (and a docstring)."""
        if cls.name.value in self.skip or cls.keywords or not isinstance(
                cls.body, cst.IndentedBlock) or any(
                cst.Module([]).code_for_node(b.value) not in ("pl.Callback", "object")
                for b in cls.bases):
            return False
        for stmt in cls.body.body:
            if isinstance(stmt, cst.FunctionDef):
                if stmt.decorators or not _params(stmt) or stmt.params.posonly_params:
                    return False
            elif not (isinstance(stmt, cst.SimpleStatementLine) and all(
                    isinstance(s, cst.Pass) or isinstance(s, cst.Expr)
                    and isinstance(s.value, cst.SimpleString) for s in stmt.body)):
                return False
        return True

    def methods(self, cls: cst.ClassDef) -> None:
        """Each method's statements as a function's, ``self`` one name for the whole class
        (attributes are not told apart); the class (so its instances) carries what its
        methods return and what ``self`` holds, and its calls feed ``__init__``."""
        name = cls.name.value
        reads = {f"{name}::self"}
        for fn, scope in _methods(cls):
            self.function(fn, scope)
            reads.add(scope)
        self.units.append(Unit(len(self.units), reads, {name, f"#{len(self.units)}"}, PLAIN))
        self.pieces.append(_Piece(cls, False, "", extra=True))


def _methods(cls: cst.ClassDef) -> Iterator[tuple[cst.FunctionDef, str]]:
    """A class's methods and the flow's scope of each."""
    assert isinstance(cls.body, cst.IndentedBlock)
    for fn in cls.body.body:
        if isinstance(fn, cst.FunctionDef):
            yield fn, f"{cls.name.value}.{fn.name.value}"


def _with_header(node: cst.CSTNode, parts: list[cst.CSTNode]) -> cst.CSTNode:
    fields = _COMPOUND_FIELDS[type(node)]
    if fields == ("items",):
        return node.with_changes(items=parts)
    return node.with_changes(**dict(zip(fields, parts, strict=True)))


def _imported(module: cst.Module) -> tuple[set[str], set[str]]:
    """Names bound by imports (modules, not data), and those of them that are NumPy."""
    out: set[str] = set()
    numpy: set[str] = set()
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(
                    small.names, cst.ImportStar):
                for alias in small.names:
                    bound = alias.asname.name if alias.asname else alias.name
                    code = cst.Module([]).code_for_node(bound)
                    out.add(code.split(".")[0])
                    name = cst.Module([]).code_for_node(alias.name)
                    if isinstance(small, cst.Import) and name.split(".")[0] == "numpy":
                        numpy.add(code.split(".")[0])
    return out, numpy


class _Defined(cst.CSTVisitor):
    """Parameters, function and class names defined anywhere inside a definition."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.names.add(node.name.value)
        self.names.update(_params(node))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.names.add(node.name.value)

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.names.update(p.name.value for p in node.params.params)


def _defined(node: cst.CSTNode) -> set[str]:
    visitor = _Defined()
    node.visit(visitor)
    return visitor.names


def _params(fn: cst.FunctionDef) -> list[str]:
    p = fn.params
    every = [*p.posonly_params, *p.params, *p.kwonly_params]
    for star in (p.star_arg, p.star_kwarg):
        if isinstance(star, cst.Param):
            every.append(star)
    return [q.name.value for q in every]


# ---------------------------------------------------------------------------- apply
class _Apply(cst.CSTTransformer):
    def __init__(self, new: dict[int, cst.CSTNode]) -> None:
        super().__init__()
        self.new = new

    def leave_FunctionDef(self, original_node: cst.FunctionDef,
                          updated_node: cst.FunctionDef) -> cst.BaseStatement:
        new = self.new.get(id(original_node))
        return updated_node.with_changes(decorators=[]) if new is not None else updated_node

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine,
                                  updated_node: cst.SimpleStatementLine) -> cst.BaseStatement:
        new = self.new.get(id(original_node))
        return new if isinstance(new, cst.SimpleStatementLine) else updated_node

    def _header(self, original: cst.BaseCompoundStatement, updated: cst.BaseCompoundStatement
                ) -> cst.BaseCompoundStatement:
        new = self.new.get(id(original))
        if new is None:
            return updated
        fields = _COMPOUND_FIELDS[type(original)]
        return updated.with_changes(**{f: getattr(new, f) for f in fields})

    def leave_If(self, original_node: cst.If, updated_node: cst.If) -> cst.BaseStatement:
        return self._header(original_node, updated_node)

    def leave_While(self, original_node: cst.While, updated_node: cst.While
                    ) -> cst.BaseStatement:
        return self._header(original_node, updated_node)

    def leave_For(self, original_node: cst.For, updated_node: cst.For) -> cst.BaseStatement:
        return self._header(original_node, updated_node)

    def leave_With(self, original_node: cst.With, updated_node: cst.With) -> cst.BaseStatement:
        return self._header(original_node, updated_node)


def _line_of(node: cst.CSTNode, lines: list[str], after: int = 0) -> int:
    """The statement's line in the user's source (earlier rules may have moved it): the
    first match after line ``after`` (the units come in source order: a statement written
    twice, in a function and at module level, is found at its own place), else the first."""
    if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        node = node.with_changes(leading_lines=[])
    first = cst.Module([]).code_for_node(node).strip().splitlines()
    text = first[0].strip() if first else ""
    if text:
        for start in (after, 0):
            for k in range(start, len(lines)):
                if text in lines[k]:
                    return k + 1
    return 0


def _torch_names(units: list[Unit]) -> dict[str, frozenset[str]]:
    """Per scope, the names every writer of which is a converted statement."""
    writers: dict[str, set[str]] = {}
    for u in units:
        for w in u.writes:
            writers.setdefault(w, set()).add(u.status)
    out: dict[str, set[str]] = {}
    for name, kinds in writers.items():
        if kinds == {TORCH}:
            scope, _, local = name.rpartition("::")
            out.setdefault(scope, set()).add(local)
    return {k: frozenset(v) for k, v in out.items()}


def convert_statements(module: cst.Module, imports: ImportTable, skip: set[str],
                       source: str) -> Rewritten:
    """Convert what maps of ``module``'s data code; ``skip``: functions left alone."""
    module = join_eager_reads(module, imports)
    builder = _Builder(imports, module, skip)
    builder.block(list(module.body), "")
    units, pieces = builder.units, builder.pieces
    if not any(u.status == TORCH for u in units):
        return Rewritten(module)
    lines = source.splitlines()
    after = 0
    for u, piece in zip(units, pieces, strict=True):
        if u.status != PLAIN or u.pairs:
            u.line = _line_of(piece.node, lines, after)
            after = u.line or after
    _settle_traced(units, set(builder.traced))
    known = _torch_names(units)
    out = Rewritten(module)
    new: dict[int, cst.CSTNode] = {}
    done: dict[str, list[int]] = {}
    for u, piece in zip(units, pieces, strict=True):
        if u.status == TORCH:
            names = known.get(piece.scope, frozenset()) | known.get("", frozenset())
            again = _reconvert(piece, imports, names) if names else piece.new
            if again is not None:
                new[id(piece.node)] = again
                done.setdefault(piece.scope, []).append(u.line)
        elif u.status == TF:
            _report(u, piece, out)
    for name, fn in builder.traced.items():
        if name in done and not any(u.group == name and u.status == TF for u in units):
            new[id(fn)] = fn.with_changes(decorators=[])  # torch code: nothing to trace
    out.module = module.visit(_Apply(new)) if new else module
    for scope, at in done.items():
        if scope:
            out.changes.append((min(at), "ops.statements",
                                f"{scope}: {len(at)} statement(s) with tf/Keras ops -> torch"))
        else:
            out.changes += [(n, "ops.statements", "module-level tf/Keras ops -> torch")
                            for n in at]
    return out


def _settle_traced(units: list[Unit], traced: set[str]) -> None:
    """settle(), and a function traced by ``@tf.function`` converts whole or not at all."""
    while True:
        settle(units)
        mixed = {u.group for u in units if u.group in traced and u.status == TF}
        again = [u for u in units if u.group in mixed and u.status == TORCH]
        if not again:
            return
        for u in again:
            u.status = TF
            u.reason = f"function {u.group} runs under @tf.function and keeps TF code"


def _reconvert(piece: _Piece, imports: ImportTable, names: frozenset[str]
               ) -> cst.CSTNode | None:
    """The converted code again, knowing which names hold torch tensors (fewer wraps)."""
    parts = _header_nodes(piece.node) if piece.header else [piece.node]  # type: ignore[arg-type]
    new_parts = []
    for part in parts:
        new, problems = rewrite_node(part, imports, {}, names)
        if problems:
            return piece.new
        new_parts.append(new)
    return new_parts[0] if not piece.header else _with_header(piece.node, new_parts)


def _report(u: Unit, piece: _Piece, out: Rewritten) -> None:
    if u.reason:
        out.unmapped.append((u.line, piece.scope or "<module>", f"kept as written: {u.reason}"))
        return
    for problem in piece.problems:
        name = problem.split(" ", 1)[0].split("(", 1)[0].rstrip(":")
        if name.startswith(_OP_FAMILIES):
            out.unmapped.append((u.line, name, problem))
            return
