"""``keras.metrics.Metric`` subclasses → ``torchmetrics.Metric`` subclasses.

Keras keeps a metric's state in ``add_weight`` variables that ``update_state`` changes with
``assign``/``assign_add``/``assign_sub`` and ``result`` reads; torchmetrics keeps it in
``add_state`` tensors that ``reset()`` restores. The class keeps its Keras methods (the
script and train steps call ``update_state``/``result``/``reset_state``) with their tf ops
through the op table, and gains ``update``/``compute`` calling them, for torchmetrics and
the converted compile(). ``name`` stays the key Keras logs. A class with anything else
(another initializer, an op without mapping) stays as written, reported once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.ops.rewrite import rewrite_node
from agent.rules.values import code_of

_BASE = "keras.metrics.Metric"
_INITIAL = {"zeros": "torch.zeros", "ones": "torch.ones"}
_ASSIGN = {"assign": "=", "assign_add": "+=", "assign_sub": "-="}
_BRIDGE = '''
def update(self, *args: Any, **kwargs: Any) -> None:
    """torchmetrics' update: Keras's update_state."""
    self.update_state(*args, **kwargs)

def compute(self) -> torch.Tensor:
    """torchmetrics' compute: Keras's result."""
    return torch.as_tensor(self.result())
'''


@dataclass
class MetricClasses:
    module: cst.Module
    names: dict[str, str] = field(default_factory=dict)  # class -> default logged name
    changes: list[tuple[cst.ClassDef, str]] = field(default_factory=list)
    kept: list[tuple[cst.ClassDef, str]] = field(default_factory=list)  # (class, why)


def snake_name(cls: str) -> str:
    """Keras's default metric name for a class (``naming.to_snake_case``)."""
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2",
                  re.sub("(.)([A-Z][a-z]+)", r"\1_\2", cls)).lower()


def convert_metric_classes(module: cst.Module, imports: ImportTable) -> MetricClasses:
    """Every top-level Metric subclass that converts completely, converted."""
    out = MetricClasses(module)
    body: list[cst.BaseStatement] = []
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and any(
                imports.resolve(b.value) == _BASE for b in stmt.bases):
            new, why, name = _convert(stmt, imports)
            if new is None:
                out.kept.append((stmt, why))
            else:
                out.names[stmt.name.value] = name
                out.changes.append((stmt, f"{stmt.name.value}: keras.metrics.Metric -> "
                                    "torchmetrics.Metric (add_weight -> add_state)"))
                body.append(new)
                continue
        body.append(stmt)
    if out.names:
        out.module = module.with_changes(body=body)
    return out


def _convert(cls: cst.ClassDef, imports: ImportTable) -> tuple[cst.ClassDef | None, str, str]:
    """(the class or None, why not, its default logged name)."""
    states = _states(cls)
    name = snake_name(cls.name.value)
    init = next((s for s in cls.body.body if isinstance(s, cst.FunctionDef)
                 and s.name.value == "__init__"), None)
    if init is not None:
        default = next((p.default for p in init.params.params if p.name.value == "name"), None)
        if isinstance(default, cst.SimpleString) and isinstance(default.evaluated_value, str):
            name = default.evaluated_value
    methods = {s.name.value for s in cls.body.body if isinstance(s, cst.FunctionDef)}
    if not {"update_state", "result"} <= methods or methods & {"update", "compute"}:
        return None, "a Metric subclass needs update_state and result (and no update/compute)", name
    rewriter = _Rewrite(set(states), name)
    new = cls.visit(rewriter)
    assert isinstance(new, cst.ClassDef)
    new = _annotate(new, states)
    assert isinstance(new, cst.ClassDef)
    if rewriter.problems:
        return None, rewriter.problems[0], name
    based = new.with_changes(bases=[cst.Arg(cst.parse_expression("torchmetrics.Metric"))])
    rewritten, problems = rewrite_node(based, imports, {})
    if problems:
        return None, problems[0], name
    assert isinstance(rewritten, cst.ClassDef)
    bridge = list(cst.parse_module(_BRIDGE).body)
    body = rewritten.body.with_changes(body=[*rewritten.body.body, *[
        b.with_changes(leading_lines=[cst.EmptyLine(indent=False)]) for b in bridge]])
    return rewritten.with_changes(body=body), "", name


def _annotate(cls: cst.ClassDef, states: list[str]) -> cst.ClassDef:
    """``tp: torch.Tensor`` per state at class level (as torchmetrics' own metrics do): the
    attributes ``add_state`` sets are otherwise ``Tensor | Module`` to a type checker."""
    body = list(cls.body.body)
    at = 1 if body and _is_docstring(body[0]) else 0
    lines = [cst.parse_statement(f"{attr}: torch.Tensor") for attr in states]
    rest = [s.with_changes(leading_lines=[cst.EmptyLine(indent=False), *s.leading_lines])
            if i == 0 and isinstance(s, (cst.FunctionDef, cst.ClassDef)) else s
            for i, s in enumerate(body[at:])]
    return cls.with_changes(body=cls.body.with_changes(body=[*body[:at], *lines, *rest]))


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _states(cls: cst.ClassDef) -> list[str]:
    """Attributes bound to ``self.add_weight(...)``/``self.add_variable(...)``, in order."""
    found: dict[str, None] = {}

    class Find(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if (len(node.targets) == 1 and _self_attr(node.targets[0].target)
                    and _weight_call(node.value) is not None):
                found[_self_attr(node.targets[0].target) or ""] = None

    cls.visit(Find())
    return list(found)


def _self_attr(node: cst.BaseExpression) -> str | None:
    if (isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name)
            and node.value.value == "self"):
        return node.attr.value
    return None


def _weight_call(node: cst.BaseExpression) -> cst.Call | None:
    if (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            and code_of(node.func) in ("self.add_weight", "self.add_variable")):
        return node
    return None


class _Rewrite(cst.CSTTransformer):
    def __init__(self, states: set[str], name: str) -> None:
        self.states = states
        self.name = name  # Keras's default name for the class
        self.problems: list[str] = []
        self.loop_vars: list[str] = []  # names a ``for`` binds to the states, one at a time

    def visit_For(self, node: cst.For) -> None:
        if isinstance(node.target, cst.Name) and isinstance(node.iter, (cst.Tuple, cst.List)) \
                and node.iter.elements and all(
                    _self_attr(e.value) in self.states for e in node.iter.elements):
            self.loop_vars.append(node.target.value)
        else:
            self.loop_vars.append("")

    def leave_For(self, original: cst.For, updated: cst.For) -> cst.For:
        self.loop_vars.pop()
        return updated

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine
                                  ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        if len(updated.body) != 1:
            return updated
        small = updated.body[0]
        code: str | None = None
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            attr = _self_attr(small.targets[0].target)
            call = _weight_call(small.value)
            if attr is not None and call is not None:
                code = self._state(attr, call)
        elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            code = self._assign(small.value) or self._super_init(small.value)
        if code is None:
            return updated
        lines = [cst.parse_statement(line) for line in code.splitlines()]
        lines[0] = lines[0].with_changes(leading_lines=updated.leading_lines)
        return cst.FlattenSentinel(lines)

    def _state(self, attr: str, call: cst.Call) -> str | None:
        args = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
        positional = [a.value for a in call.args if a.keyword is None]
        if positional:  # Keras 2's add_weight(name, shape, ...)
            args.setdefault("name", positional[0])
            if len(positional) > 1:
                args.setdefault("shape", positional[1])
        init = args.get("initializer")
        fill = _INITIAL.get(init.evaluated_value.lower()) if (
            isinstance(init, cst.SimpleString) and isinstance(init.evaluated_value, str)) else None
        if fill is None or set(args) - {"name", "shape", "initializer", "dtype"} or (
                "dtype" in args and code_of(args["dtype"]).strip("\"'") != "float32"):
            self.problems.append(f"add_weight({', '.join(code_of(a.value) for a in call.args)})"
                                 " not converted: zeros/ones float32 states only")
            return None
        shape = code_of(args["shape"]) if "shape" in args else "()"
        return f'self.add_state("{attr}", {fill}({shape}), dist_reduce_fx="sum")'

    def _assign(self, call: cst.Call) -> str | None:
        """``self.total.assign_add(v)`` → ``self.total += v`` (a state: in place, no graph)."""
        if not isinstance(call.func, cst.Attribute) or call.func.attr.value not in _ASSIGN:
            return None
        if len(call.args) != 1 or call.args[0].keyword:
            return None
        value = code_of(call.args[0].value)
        op = _ASSIGN[call.func.attr.value]
        target = call.func.value
        if isinstance(target, cst.Name) and target.value in self.loop_vars:
            # ``for v in (self.tp, self.fp): v.assign(0.0)``: the state itself, in place
            method = {"=": "copy_", "+=": "add_", "-=": "sub_"}[op]
            return f"{target.value}.{method}(torch.as_tensor({value}).detach())"
        attr = _self_attr(target)
        if attr not in self.states:
            return None
        if op == "=":
            return (f"self.{attr} = torch.as_tensor({value}, dtype=self.{attr}.dtype, "
                    f"device=self.{attr}.device).expand_as(self.{attr}).clone()")
        return f"self.{attr} {op} torch.as_tensor({value}).detach()"

    def _super_init(self, call: cst.Call) -> str | None:
        """``super().__init__(name=name, **kwargs)`` → torchmetrics' init, Keras's name kept."""
        if code_of(call.func) != "super().__init__":
            return None
        name = next((code_of(a.value) for a in call.args
                     if a.keyword is not None and a.keyword.value == "name"), None)
        if name is None and call.args and call.args[0].keyword is None and not call.args[0].star:
            name = code_of(call.args[0].value)
        return f"super().__init__()\nself.name = {name or repr(self.name)}"
