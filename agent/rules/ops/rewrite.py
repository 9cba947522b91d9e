"""The libcst transformer that applies the op table (agent.rules.ops.table) to code.

Framework calls are rewritten bottom-up (arguments first, so nested ops compose); framework
names used as values become torch constants (``tf.float32``) or callables (``tf.nn.relu`` →
``F.relu``); local names are renamed (``training`` → ``self.training``). Anything without a
mapping is left exactly as written and reported, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import libcst as cst

from agent.rules import walk
from agent.rules.activations import ACTIVATION_FUNCTIONS, ACTIVATIONS
from agent.rules.imports import ImportTable
from agent.rules.ops import eager_strings
from agent.rules.ops.arrays import wrap_arguments
from agent.rules.ops.spec import Bound, atom, bind, emit
from agent.rules.ops.table import CONSTANTS, NOT_CONVERTED, OPS
from agent.rules.spec import Unsupported
from agent.rules.values import code_of

_ACTIVATION_CALLABLE = re.compile(r"((?:F|torch)\.\w+)\(\{x\}\)")  # F.gelu({x})
_OPERATIONS = (cst.BinaryOperation, cst.UnaryOperation, cst.BooleanOperation, cst.Comparison)


def _strip(node: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(node, _OPERATIONS) and node.lpar:
        return node.with_changes(lpar=[], rpar=[])
    return node


class _Unparen(cst.CSTTransformer):
    """Parentheses an argument or a tuple/list item never needs (``f((a * 2))``, a tuple of
    ``((n * 2))``): substituted names bring their own, the printed call should not."""

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(value=_strip(updated_node.value))

    def leave_Element(self, original_node: cst.Element, updated_node: cst.Element
                      ) -> cst.Element:
        return updated_node.with_changes(value=_strip(updated_node.value))


class OpRewriter(cst.CSTTransformer):
    def __init__(self, imports: ImportTable, names: dict[str, str],
                 arrays: frozenset[str] | None = None,
                 maybe_arrays: frozenset[str] = frozenset()) -> None:
        """``arrays``: data code (outside models), where a tensor argument may be a NumPy
        array; the set names the variables known to hold torch tensors. ``maybe_arrays``
        (without ``arrays``): only these variables may hold NumPy values."""
        super().__init__()
        self.imports = imports
        self.arrays = arrays
        self.maybe_arrays = maybe_arrays
        self.names = {k: cst.parse_expression(v) for k, v in names.items()}
        self.problems: list[str] = []
        self.protected: set[int] = set()  # attribute names, keywords: never renamed
        self.funcs: set[int] = set()  # callees: handled by leave_Call
        self.generated: set[int] = set()  # parenthesised operations we wrote
        self.eager: set[int] = set()  # string ops read by .numpy() (eager_strings), their
        self.eager_numpy: dict[int, str] = {}  # .numpy() calls (their suffix), the .encode()
        # written
        self.encoded: set[int] = set()

    def _problem(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)

    # -- what not to touch -------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        self.funcs.add(id(node.func))
        value = eager_strings.numpy_call_value(node)
        qual = self.imports.resolve(value.func) if isinstance(value, cst.Call) else None
        if isinstance(value, cst.Call) and eager_strings.eager_op(qual, value) is not None:
            self.eager.add(id(value))
            self.eager_numpy[id(node)] = eager_strings.suffix(qual)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        self.protected.add(id(node.attr))
        return self.imports.resolve(node) is None  # a framework path is handled as a whole

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.protected.add(id(node.keyword))

    def visit_Param(self, node: cst.Param) -> None:
        self.protected.add(id(node.name))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.protected.add(id(node.name))  # ``def metrics(self)`` defines, never reads, it

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        if id(updated_node.value) in self.generated:
            return updated_node.with_changes(value=_strip(updated_node.value))
        return updated_node

    # -- names -------------------------------------------------------------------------
    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        if id(original_node) in self.protected:
            return updated_node
        if original_node.value in self.names:
            return self.names[original_node.value]
        return self._framework_value(original_node, updated_node)

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute
                        ) -> cst.BaseExpression:
        return self._framework_value(original_node, updated_node)

    def _framework_value(self, original: cst.BaseExpression, updated: cst.BaseExpression
                         ) -> cst.BaseExpression:
        if id(original) in self.funcs:
            return updated
        q = self.imports.resolve(original)
        if q is None:
            return updated
        if q in CONSTANTS:
            return cst.parse_expression(CONSTANTS[q])
        op = OPS.get(q)
        if op is not None and op.value:
            return cst.parse_expression(op.value)
        if op is not None and op.torch and len(op.params) >= 1 and op.elementwise \
                and not op.explicit:  # torch's own defaults are TF's
            return cst.parse_expression(op.torch)  # a function passed as a value
        # self.act = keras.activations.gelu: the one-argument torch function
        plain = _ACTIVATION_CALLABLE.fullmatch(ACTIVATIONS.get(ACTIVATION_FUNCTIONS.get(q, ""), ""))
        if plain and (op is None or not op.explicit):
            return cst.parse_expression(plain.group(1))
        if op is not None and op.handler is not None and op.params \
                and op.pos == len(op.params) and not op.varargs:
            try:  # every parameter required: a lambda over TF's names takes every call
                body = emit(op, Bound(q, {p: p for p in op.params},
                                      {p: cst.Name(p) for p in op.params}, [], op.params))
                return cst.parse_expression(f"lambda {', '.join(op.params)}: {body}")
            except Unsupported as exc:
                self._problem(str(exc))
                return updated
        self._problem(f"{q} has no torch mapping")
        return updated

    # -- calls -------------------------------------------------------------------------
    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if id(original_node) in self.eager_numpy:
            return self._numpy_of_string(updated_node, self.eager_numpy[id(original_node)])
        back = eager_strings.decoded(updated_node, self.encoded) if self.encoded else None
        if back is not None:
            return back  # .numpy().decode() of one string: the str itself
        q = self.imports.resolve(original_node.func)
        if q is None:
            return updated_node
        eager = eager_strings.eager_op(q, original_node) if id(original_node) in self.eager \
            else None
        if q in NOT_CONVERTED and eager is None:
            self._problem(f"{q}: {NOT_CONVERTED[q]}")
            return updated_node
        op = eager or OPS.get(q)
        if op is None:
            self._problem(f"{q} has no torch mapping")
            return updated_node
        codes = [code_of(a.value) for a in updated_node.args]
        if self.arrays is not None and eager is None:
            codes = wrap_arguments(op, q, updated_node, codes, self.arrays)
        elif self.maybe_arrays and eager is None:
            codes = wrap_arguments(op, q, updated_node, codes, self.arrays,
                                   self.maybe_arrays)
        try:
            code = emit(op, bind(op, q, updated_node, codes))
        except Unsupported as exc:
            self._problem(str(exc))
            return updated_node
        new = cst.parse_expression(code)
        if "((" in code or ", (" in code:
            bare = new.visit(_Unparen())
            assert isinstance(bare, cst.BaseExpression)
            new = bare
        if isinstance(new, _OPERATIONS) and new.lpar:
            self.generated.add(id(new))
        return new

    def _numpy_of_string(self, updated: cst.Call, suffix: str) -> cst.BaseExpression:
        """``.numpy()`` of a converted string/bytes op: its bytes (eager_strings)."""
        value = eager_strings.numpy_call_value(updated)
        if not isinstance(value, cst.Call) or self.imports.resolve(value.func) is not None:
            return updated  # the op did not convert (its problem is recorded)
        if not suffix:
            return value
        new = cst.parse_expression(f"{atom(code_of(value))}{suffix}")
        self.encoded.add(id(new))
        return new


def rewrite_node(node: cst.CSTNode, imports: ImportTable, names: dict[str, str],
                 arrays: frozenset[str] | None = None,
                 maybe_arrays: frozenset[str] = frozenset()) -> tuple[cst.CSTNode, list[str]]:
    """Any node (an expression, a statement, a function body) through the op table;
    ``arrays``, ``maybe_arrays``: see :class:`OpRewriter`."""
    rewriter = OpRewriter(imports, names, arrays, maybe_arrays)
    new = node.visit(rewriter)
    assert isinstance(new, cst.CSTNode)
    return new, rewriter.problems


def rewrite_if_framework(node: cst.CSTNode, imports: ImportTable
                         ) -> tuple[cst.CSTNode, list[str]]:
    """``rewrite_node(node, imports, {})``, or ``node`` itself when no name in it is one the
    import table can resolve: every rewrite starts from such a name, so the visit would
    only copy the tree (for callers that do not tell a copy from the original)."""
    heads = imports.names.keys() | imports.subclasses
    if not walk.mentions(node, heads):
        return node, []
    return rewrite_node(node, imports, {})


def rewrite_expression(node: cst.BaseExpression, imports: ImportTable, names: dict[str, str]
                       ) -> tuple[cst.BaseExpression, list[str]]:
    new, problems = rewrite_node(node, imports, names)
    assert isinstance(new, cst.BaseExpression)
    return _strip(new) if new is not node else new, problems


_PLACEHOLDER = "__k2l_{}__"


def template(body: cst.BaseExpression, imports: ImportTable, mapping: dict[str, str]) -> str:
    """Forward-expression template: names in ``mapping`` become ``{x}``-style placeholders."""
    holders = {name: _PLACEHOLDER.format(k) for k, name in enumerate(mapping)}
    new, problems = rewrite_expression(body, imports, holders)
    if problems:
        raise Unsupported("; ".join(problems))
    code = code_of(new)
    for name, holder in holders.items():
        code = code.replace(holder, mapping[name])
    return code


class _Elementwise(cst.CSTVisitor):
    def __init__(self, imports: ImportTable) -> None:
        self.imports = imports
        self.ok = True

    def visit_Call(self, node: cst.Call) -> None:
        q = self.imports.resolve(node.func)
        op = OPS.get(q) if q is not None else None
        if op is None or not op.elementwise:
            self.ok = False

    def visit_Subscript(self, node: cst.Subscript) -> None:
        self.ok = False


def elementwise(node: cst.BaseExpression, imports: ImportTable) -> bool:
    visitor = _Elementwise(imports)
    node.visit(visitor)
    return visitor.ok


# ---------------------------------------------------------------------------- public API
def convert_expr(node: cst.BaseExpression, imports: ImportTable, names: dict[str, str]
                 ) -> tuple[cst.BaseExpression, list[str]]:
    """Every framework call in ``node`` rewritten to torch; locals renamed per ``names``.

    Unknown tf/keras functions stay as written and are returned as problems, so the caller
    can mark them ``TODO(k2l)``.
    """
    return rewrite_expression(node, imports, names)


def is_elementwise(node: cst.BaseExpression, imports: ImportTable) -> bool:
    """True when every call in ``node`` is an elementwise op (the output keeps its shape)."""
    return elementwise(node, imports)


LambdaConverter = Callable[[cst.BaseExpression, dict[str, str]], tuple[str, bool]]


def lambda_converter(imports: ImportTable) -> LambdaConverter:
    """For ``Lambda(lambda x: ...)`` and tensor expressions in functional models.

    ``mapping`` maps the lambda's parameter (or the tensor variables) to template
    placeholders (``{x}``, ``{x0}``); returns the forward expression template and whether
    it is elementwise, or raises Unsupported naming the first op without a mapping.
    """
    def convert(body: cst.BaseExpression, mapping: dict[str, str]) -> tuple[str, bool]:
        return template(body, imports, mapping), is_elementwise(body, imports)

    return convert
