"""``norm = layers.Normalization(); norm.adapt(data)`` before the model: statistics from data.

Keras's adapted Normalization and one given ``mean``/``variance`` compute the same thing
(``(x - mean) / max(sqrt(var), 1e-7)``), and the model rules convert the latter (buffers in
the state_dict). So, before the rules run, the ``adapt`` statement becomes the statistics'
computation in the script (``adapt_normalization`` in runtime/data_layers.py: NumPy, Keras's
reduction and batch-combining formula) followed by the constructor, moved there with
``mean=``/``variance=`` added. Only for a layer bound to a name at module level or in a
module-level function's body (a builder: the statistics become the model class's
parameters), adapted once by a statement of that same body, and not used between its
constructor and its ``adapt``; when a
Keras model or Normalization is left after converting, the script converts as written (the
layer is reported, as before).
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst
from libcst.metadata import PositionProvider

from agent.rules.imports import ImportTable
from agent.rules.training.rewritten_lines import R, Rewritten, with_rewrite
from agent.rules.values import code_of

_LAYER = "keras.layers.Normalization"
_KEYWORDS = frozenset({"axis", "invert", "name", "dtype", "input_shape", "input_dim"})
RULE = "layers.Normalization.adapt"
_EQUAL = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                         whitespace_after=cst.SimpleWhitespace(""))


def _names(node: cst.CSTNode) -> set[str]:
    found: set[str] = set()

    class Visitor(cst.CSTVisitor):
        def visit_Name(self, name: cst.Name) -> None:
            found.add(name.value)

    node.visit(Visitor())
    return found


def _ctor(stmt: cst.BaseStatement, imports: ImportTable) -> tuple[str, cst.Call] | None:
    """(name, call) for ``name = layers.Normalization(...)`` without mean/variance."""
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
        return None
    assign = stmt.body[0]
    if not (isinstance(assign, cst.Assign) and len(assign.targets) == 1
            and isinstance(assign.targets[0].target, cst.Name)
            and isinstance(assign.value, cst.Call)
            and imports.resolve(assign.value.func) == _LAYER):
        return None
    call = assign.value
    if any(a.star for a in call.args) or sum(a.keyword is None for a in call.args) > 1 \
            or any(a.keyword is not None and a.keyword.value not in _KEYWORDS
                   for a in call.args):
        return None
    return assign.targets[0].target.value, call


def _adapt(stmt: cst.BaseStatement, var: str) -> cst.BaseExpression | None:
    """The data of ``var.adapt(data)`` as a statement of its own."""
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)):
        return None
    call = stmt.body[0].value
    if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
            and isinstance(call.func.value, cst.Name) and call.func.value.value == var
            and call.func.attr.value == "adapt" and len(call.args) == 1
            and not call.args[0].star
            and (call.args[0].keyword is None or call.args[0].keyword.value == "data")):
        return None
    return call.args[0].value


def _axis(call: cst.Call) -> cst.BaseExpression | None:
    for k, arg in enumerate(call.args):
        if arg.keyword is None and k == 0 or arg.keyword is not None \
                and arg.keyword.value == "axis":
            return arg.value
    return None


def _rewrite_body(body: list[cst.BaseStatement], imports: ImportTable, taken: set[str],
                  line: Callable[[cst.CSTNode], int], done: Rewritten) -> list[cst.BaseStatement]:
    """One statement list (the module's, a function's) with each Normalization made and
    adapted in it given its data's statistics."""
    body = list(body)
    k = 0
    while k < len(body):
        found = _ctor(body[k], imports)
        if found is None:
            k += 1
            continue
        var, call = found
        adapts = [j for j in range(k + 1, len(body)) if _adapt(body[j], var) is not None]
        uses = sum(f"{var}.adapt" in code_of(s) for s in body)  # any other adapt: as written
        stats = (f"{var}_mean", f"{var}_variance")
        if len(adapts) != 1 or uses != 1 or set(stats) & taken \
                or any(var in _names(s) for s in body[k + 1:adapts[0]]):
            k += 1
            continue
        j = adapts[0]
        data = _adapt(body[j], var)
        assert data is not None
        axis = _axis(call)
        axis_code = f", axis={code_of(axis)}" if axis is not None else ""
        stats_line = cst.parse_statement(
            f"{stats[0]}, {stats[1]} = adapt_normalization({code_of(data)}{axis_code})\n")
        given = [cst.Arg(cst.Name(stat), keyword=cst.Name(key), equal=_EQUAL)
                 for key, stat in zip(("mean", "variance"), stats, strict=True)]
        args = list(call.args)
        if args:
            args[-1] = args[-1].with_changes(comma=cst.Comma(
                whitespace_after=cst.SimpleWhitespace(" ")))
        new_call = call.with_changes(args=[*args, *given])
        ctor = body[k]
        assert isinstance(ctor, cst.SimpleStatementLine)
        assign = ctor.body[0]
        assert isinstance(assign, cst.Assign)
        moved = ctor.with_changes(body=[assign.with_changes(value=new_call)])  # its comments
        done.moved.setdefault(_first_line(moved), []).append(line(ctor))
        done.changes.append((line(body[j]), RULE,
                             f"{var}.adapt(...) -> adapt_normalization (mean/variance from the "
                             "data in the script)"))
        body[j:j + 1] = [body[j].with_changes(body=stats_line.body) if isinstance(
            stats_line, cst.SimpleStatementLine) else stats_line, moved]
        del body[k]
        taken |= set(stats)
    return body


def rewrite_adapted(source: str, imports: ImportTable) -> Rewritten:
    """``source`` with each Normalization adapted where it is made (at module level, or in the
    body of a module-level function: a builder that adapts it and returns the model) given its
    data's statistics."""
    try:
        wrapper = cst.MetadataWrapper(cst.parse_module(source))
    except cst.ParserSyntaxError:
        return Rewritten(source)
    module = wrapper.module
    positions = wrapper.resolve(PositionProvider)

    def line(node: cst.CSTNode) -> int:
        return positions[node].start.line

    taken = _names(module)
    done = Rewritten(source)
    body = _rewrite_body(list(module.body), imports, taken, line, done)
    for n, stmt in enumerate(body):
        if isinstance(stmt, cst.FunctionDef) and isinstance(stmt.body, cst.IndentedBlock):
            # a function's statistics are its locals: another function may use the same names
            inner = _rewrite_body(list(stmt.body.body), imports, set(taken), line, done)
            body[n] = stmt.with_changes(body=stmt.body.with_changes(body=inner))
    if not done.changes:
        return Rewritten(source)
    done.code = module.with_changes(body=body).code
    return done


def _first_line(stmt: cst.BaseStatement) -> str:
    """The statement's first line of code (its comment lines left out)."""
    node: cst.CSTNode = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) else stmt
    return cst.Module([]).code_for_node(node).strip().splitlines()[0]


def with_adapted_norms(source: str, path: str, convert: Callable[[str, str], R]) -> R:
    """``convert`` run on the source with its adapted Normalizations given their statistics,
    records in the source's lines; as written when there is none or Keras is left anyway."""
    if ".adapt(" not in source or "Normalization" not in source:
        return convert(source, path)
    return with_rewrite(source, path, convert, rewrite_adapted)
