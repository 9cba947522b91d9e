"""``keras.losses.Loss`` subclasses → plain classes of torch ops with Keras's ``__call__``.

Keras calls ``call(y_true, y_pred)`` for the per-sample losses and reduces them itself: the
weighted losses summed over every element and divided by their number (the default
``"sum_over_batch_size"`` reduction). The converted class keeps ``call`` (its ops through the
op table) and gains that ``__call__``, so ``compile(loss=MyLoss())``, a tape loop's
``loss_fn(y, p)`` and the script's own calls read the same value. ``super().__init__(name=..)``
keeps the name. A class with another reduction, other Keras methods or an op without mapping
stays as written.
"""

from __future__ import annotations

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.ops.functions import convert_function, uses_framework
from agent.rules.values import code_of

BASES = frozenset({"keras.losses.Loss"})
_DEFAULT_REDUCTIONS = ("sum_over_batch_size", "auto")
_CALL = '''
def __call__(self, y_true: torch.Tensor, y_pred: torch.Tensor,
             sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Keras's Loss.__call__: call()'s losses, weighted, averaged over every element."""
    losses = torch.as_tensor(self.call(y_true.to(y_pred.dtype), y_pred))
    if sample_weight is not None:
        losses = losses * sample_weight
    return losses.mean()
'''


def convert_loss_classes(module: cst.Module, imports: ImportTable
                         ) -> tuple[cst.Module, list[str], list[tuple[str, str]]]:
    """(the module, the classes converted, (class, why not) for those left as written)."""
    done: list[str] = []
    kept: list[tuple[str, str]] = []
    body: list[cst.BaseStatement] = []
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and any(
                imports.resolve(b.value) in BASES for b in stmt.bases):
            new, why = _convert(stmt, imports)
            if new is not None:
                body.append(new)
                done.append(stmt.name.value)
                continue
            kept.append((stmt.name.value, why))
        body.append(stmt)
    return (module.with_changes(body=body) if done else module), done, kept


def _convert(cls: cst.ClassDef, imports: ImportTable) -> tuple[cst.ClassDef | None, str]:
    if not isinstance(cls.body, cst.IndentedBlock):
        return None, "one-line class body"
    methods = {s.name.value for s in cls.body.body if isinstance(s, cst.FunctionDef)}
    if "call" not in methods or "__call__" in methods:
        return None, "a Loss subclass needs call() (and no __call__ of its own)"
    stmts: list[cst.BaseStatement] = []
    for stmt in cls.body.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == "__init__":
            init, why = _init(stmt, imports)
            if init is None:
                return None, why
            stmt = init
        if isinstance(stmt, cst.FunctionDef) and uses_framework(stmt, imports):
            new, problems = convert_function(stmt, imports)
            if new is None or problems:
                return None, "; ".join(problems) or f"{stmt.name.value}() not converted"
            stmts.append(new)
        elif isinstance(stmt, cst.FunctionDef) or not uses_framework(stmt, imports):
            stmts.append(stmt)
        else:
            return None, f"class statement {code_of(stmt)[:40]} uses Keras"
    dunder = cst.ensure_type(cst.parse_statement(_CALL), cst.FunctionDef)
    stmts.append(dunder.with_changes(leading_lines=[cst.EmptyLine(indent=False)]))
    bases = [b for b in cls.bases if imports.resolve(b.value) not in BASES]
    return cls.with_changes(bases=bases, lpar=cst.MaybeSentinel.DEFAULT,
                            rpar=cst.MaybeSentinel.DEFAULT,
                            body=cls.body.with_changes(body=stmts)), ""


def _init(fn: cst.FunctionDef, imports: ImportTable) -> tuple[cst.FunctionDef | None, str]:
    """``super().__init__(name=name, reduction=...)`` → ``self.name = name``."""
    why = ""

    class Swap(cst.CSTTransformer):
        def leave_SimpleStatementLine(self, o: cst.SimpleStatementLine,
                                      u: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
            nonlocal why
            small = u.body[0] if len(u.body) == 1 else None
            if not (isinstance(small, cst.Expr) and isinstance(small.value, cst.Call)
                    and code_of(small.value.func) == "super().__init__"):
                return u
            name = "None"
            for a in small.value.args:
                key = a.keyword.value if a.keyword is not None else ""
                value = code_of(a.value)
                if key == "name" or (not key and not a.star and name == "None"):
                    name = value
                elif key == "reduction" and value.strip("\"'") in _DEFAULT_REDUCTIONS:
                    continue
                elif a.star == "**":
                    continue  # Keras's name/dtype keywords: torch has no use for them
                else:
                    why = f"super().__init__({value}) not converted: the default reduction only"
            line = cst.ensure_type(cst.parse_statement(f"self.name = {name}"),
                                   cst.SimpleStatementLine)
            return u.with_changes(body=line.body)

    new = fn.visit(Swap())
    return (None, why) if why else (cst.ensure_type(new, cst.FunctionDef), "")
