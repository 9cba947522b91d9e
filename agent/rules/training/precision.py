"""Keras's global mixed-precision policy → the Lightning Trainer's ``precision``.

``keras.mixed_precision.set_global_policy("mixed_float16")`` makes Keras compute in float16
with float32 variables and loss scaling; Lightning's ``Trainer(precision="16-mixed")`` is
the same training scheme (torch autocast with a gradient scaler). The policy call becomes
``TRAINER_PRECISION = "16-mixed"`` (a ``"32-true"`` default above the top-level statement
holding it, when it sits in a branch) and every ``pl.Trainer(...)`` of the script gets
``precision=TRAINER_PRECISION``. A policy the rules cannot read, or a script without a
Trainer, keeps the call, reported: the numerics are never changed silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.values import code_of

_SETTERS = ("keras.mixed_precision.set_global_policy", "keras.mixed_precision.set_policy",
            "keras.mixed_precision.experimental.set_policy",
            "keras.mixed_precision.experimental.set_global_policy")
_POLICIES = ("keras.mixed_precision.Policy", "keras.mixed_precision.experimental.Policy",
             "keras.DTypePolicy", "keras.dtype_policies.DTypePolicy")
PRECISIONS = {"mixed_float16": "16-mixed", "mixed_bfloat16": "bf16-mixed",
              "float32": "32-true", "float16": "16-true", "bfloat16": "bf16-true"}
NAME = "TRAINER_PRECISION"


@dataclass
class Rewritten:
    code: str
    changes: list[tuple[int, str, str]] = field(default_factory=list)  # (line, rule, message)
    warnings: list[tuple[int, str]] = field(default_factory=list)


def _literal(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


class _Find(cst.CSTVisitor):
    """Policy objects bound to names, and the setter calls with the policy they set."""

    def __init__(self, imports: ImportTable) -> None:
        self.imports = imports
        self.bound: dict[str, str] = {}  # name -> policy string
        self.setters: list[tuple[cst.Call, str | None]] = []
        self.trainers = 0

    def visit_Assign(self, node: cst.Assign) -> None:
        if (len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name)
                and isinstance(node.value, cst.Call)
                and self.imports.resolve(node.value.func) in _POLICIES and node.value.args):
            policy = _literal(node.value.args[0].value)
            if policy is not None:
                self.bound[node.targets[0].target.value] = policy

    def visit_Call(self, node: cst.Call) -> None:
        if code_of(node.func) == "pl.Trainer":
            self.trainers += 1
        if self.imports.resolve(node.func) in _SETTERS and len(node.args) == 1:
            arg = node.args[0].value
            policy = _literal(arg)
            if policy is None and isinstance(arg, cst.Name):
                policy = self.bound.get(arg.value)
            self.setters.append((node, policy))


class _Apply(cst.CSTTransformer):
    def __init__(self, imports: ImportTable, setters: dict[int, str]) -> None:
        self.imports = imports
        self.setters = setters  # id(call) -> precision
        self.depth = 0
        self.nested_top: set[int] = set()  # top-level statements holding a nested setter
        self._top: cst.CSTNode | None = None

    def visit_Module(self, node: cst.Module) -> None:
        for stmt in node.body:
            if isinstance(stmt, cst.BaseCompoundStatement) and any(
                    id(c) in self.setters for c in _calls(stmt)):
                self.nested_top.add(id(stmt))

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        body: list[cst.BaseStatement] = []
        for old, new in zip(original.body, updated.body, strict=True):
            if id(old) in self.nested_top:
                body.append(cst.parse_statement(f'{NAME} = "32-true"  # Keras\'s default policy\n'))
            body.append(new)
        return updated.with_changes(body=body)

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine) -> cst.BaseStatement:
        small = original.body[0] if len(original.body) == 1 else None
        if isinstance(small, cst.Expr) and id(small.value) in self.setters:
            return cst.parse_statement(f'{NAME} = "{self.setters[id(small.value)]}"\n').with_changes(
                leading_lines=updated.leading_lines)
        return updated

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        if isinstance(original.value, cst.Call) \
                and self.imports.resolve(original.value.func) in _POLICIES:
            return updated.with_changes(value=original.value.args[0].value)  # the policy name
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if code_of(updated.func) != "pl.Trainer" or any(
                a.keyword is not None and a.keyword.value == "precision" for a in updated.args):
            return updated
        args = list(updated.args)
        if args:
            args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        args.append(cst.Arg(cst.Name(NAME), keyword=cst.Name("precision"),
                            equal=cst.AssignEqual(cst.SimpleWhitespace(""),
                                                  cst.SimpleWhitespace(""))))
        return updated.with_changes(args=args)


def _calls(node: cst.CSTNode) -> list[cst.Call]:
    found: list[cst.Call] = []

    class V(cst.CSTVisitor):
        def visit_Call(self, n: cst.Call) -> None:
            found.append(n)

    node.visit(V())
    return found


def _line(code: str, node: cst.CSTNode, source: str) -> int:
    text = code_of(node)
    lines = (source or code).splitlines()
    return next((k + 1 for k, line in enumerate(lines) if text.split("\n")[0] in line), 0)


def rewrite_precision(code: str, imports: ImportTable, models_left: bool,
                      source: str = "") -> Rewritten:
    """``code`` with the global policy moved to the Trainer, or reasons why not."""
    if "mixed_precision" not in code and "Policy" not in code:
        return Rewritten(code)
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return Rewritten(code)
    find = _Find(imports)
    module.visit(find)
    if not find.setters:
        return Rewritten(code)
    out = Rewritten(code)
    ready: dict[int, str] = {}
    for call, policy in find.setters:
        line, name = _line(code, call, source), imports.resolve(call.func) or ""
        if models_left:
            why = "a Keras model is left in this script: the policy still applies to it"
        elif policy not in PRECISIONS:
            why = (f"policy {code_of(call.args[0].value)} is not a literal the rules read: "
                   "pass precision= to the Lightning Trainer by hand")
        elif not find.trainers:
            why = (f'no Lightning Trainer in this script: pass precision="{PRECISIONS[policy]}" '
                   "to the Trainer that trains the model")
        else:
            ready[id(call)] = PRECISIONS[policy]
            out.changes.append((line, "script.mixed_precision",
                                f'{name}("{policy}") -> Trainer(precision='
                                f'"{PRECISIONS[policy]}")'))
            if policy.startswith("mixed"):
                out.warnings.append((line, f'mixed precision "{policy}" as Lightning\'s '
                                           f'"{PRECISIONS[policy]}" (torch autocast picks the '
                                           "float16 ops, not Keras's per-layer policy)"))
            continue
        out.warnings.append((line, f"mixed precision policy not carried over: {why}"))
    if ready:
        out.code = module.visit(_Apply(imports, ready)).code
    return out
