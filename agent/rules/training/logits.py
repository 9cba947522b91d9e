"""Softmax/sigmoid outputs trained with crossentropy: the loss from the logits, as TF-Keras does.

TF-Keras notices that a crossentropy's input came out of a softmax or sigmoid and computes the
loss from the tensor before it (``_keras_logits``): stable, and no clipping that stops the
gradient. The converted class does the same: ``forward`` is split into ``logits`` (everything
but the last activation) and a ``forward`` that applies it, so callers still get what the
Keras model returned.
"""

from __future__ import annotations

import re

import libcst as cst

from agent.rules.training.compile import CompileConfig
from agent.rules.values import code_of

# activation call -> (template over {x}, loss kinds that read its logits)
_ACTIVATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "F.softmax": ("F.softmax({x}, dim=-1)", ("categorical", "sparse")),
    "torch.softmax": ("torch.softmax({x}, dim=-1)", ("categorical", "sparse")),
    "torch.sigmoid": ("torch.sigmoid({x})", ("binary",)),
}


def _forward(cls: cst.ClassDef) -> cst.FunctionDef | None:
    if not isinstance(cls.body, cst.IndentedBlock):
        return None
    for stmt in cls.body.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == "forward":
            return stmt
    return None


def _activation(call: cst.BaseExpression) -> tuple[str, cst.BaseExpression] | None:
    """(template, its argument) for ``F.softmax(E, dim=-1)`` / ``torch.sigmoid(E)``."""
    if not isinstance(call, cst.Call) or not call.args:
        return None
    entry = _ACTIVATIONS.get(code_of(call.func))
    if entry is None or call.args[0].keyword is not None:
        return None
    rest = [code_of(a.value) if a.keyword is None else f"{a.keyword.value}={code_of(a.value)}"
            for a in call.args[1:]]
    allowed = (["dim=-1"], ["-1"]) if "softmax" in entry[0] else ([],)
    if rest not in allowed:
        return None
    return entry[0], call.args[0].value


def _stores_output_mask(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Assign) \
        and code_of(stmt.body[0].targets[0].target) == "self.output_mask"


def _last(fn: cst.FunctionDef) -> tuple[int, cst.BaseExpression] | None:
    """(index of the statement, the expression) that applies the output activation."""
    if not isinstance(fn.body, cst.IndentedBlock) or not fn.body.body:
        return None
    body = fn.body.body
    ret = body[-1]
    if not (isinstance(ret, cst.SimpleStatementLine) and isinstance(ret.body[0], cst.Return)):
        return None
    value = ret.body[0].value
    if value is None:
        return None
    if isinstance(value, cst.Call):
        return len(body) - 1, value
    at = len(body) - 2
    if at >= 0 and _stores_output_mask(body[at]):  # forward's own bookkeeping (masks.py)
        at -= 1
    if isinstance(value, cst.Name) and at >= 0:
        prev = body[at]
        if isinstance(prev, cst.SimpleStatementLine) and isinstance(prev.body[0], cst.Assign):
            assign = prev.body[0]
            if len(assign.targets) == 1 and code_of(assign.targets[0].target) == value.value:
                return at, assign.value
    return None


def output_activation(module: cst.Module, cls: str, cfg: CompileConfig) -> str | None:
    """The activation template when ``cls`` ends in one that its compiled loss can undo."""
    if len(cfg.losses) != 1 or cfg.losses[0] is None or cfg.losses[0].logits is None:
        return None
    loss = cfg.losses[0]
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and stmt.name.value == cls:
            fn = _forward(stmt)
            found = _last(fn) if fn is not None else None
            act = _activation(found[1]) if found is not None else None
            if act is None:
                return None
            kinds = next(k for t, k in _ACTIVATIONS.values() if t == act[0])
            return act[0] if loss.kind in kinds else None
    return None


def _heads(fn: cst.FunctionDef) -> dict[str, tuple[int, str, cst.BaseExpression]] | None:
    """Per returned name of ``return a, b``: (statement index, activation, its argument) where
    the name was last bound to an activation that nothing but the return reads."""
    if not isinstance(fn.body, cst.IndentedBlock) or not fn.body.body:
        return None
    body = fn.body.body
    ret = body[-1]
    if not (isinstance(ret, cst.SimpleStatementLine) and isinstance(ret.body[0], cst.Return)
            and isinstance(ret.body[0].value, (cst.Tuple, cst.List))):
        return None
    names = [code_of(e.value) for e in ret.body[0].value.elements]
    out: dict[str, tuple[int, str, cst.BaseExpression]] = {}
    for name in names:
        for at in range(len(body) - 2, -1, -1):
            stmt = body[at]
            if not (isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0],
                                                                              cst.Assign)):
                if re.search(rf"\b{re.escape(name)}\b", code_of(stmt)):
                    break  # read or bound by something else: leave it
                continue
            assign = stmt.body[0]
            if [code_of(t.target) for t in assign.targets] == [name]:
                act = _activation(assign.value)
                if act is not None and names.count(name) == 1:
                    out[name] = (at, act[0], act[1])
                break
            if re.search(rf"\b{re.escape(name)}\b", code_of(stmt)):
                break
    return out


def output_activations(module: cst.Module, cls: str, cfg: CompileConfig
                       ) -> tuple[str | None, ...] | None:
    """Per output of a multi-output ``cls``, the activation its crossentropy can undo."""
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and stmt.name.value == cls:
            fn = _forward(stmt)
            heads = _heads(fn) if fn is not None else None
            if fn is None or not heads:
                return None
            ret = fn.body.body[-1]
            assert isinstance(ret, cst.SimpleStatementLine) and isinstance(ret.body[0],
                                                                           cst.Return)
            value = ret.body[0].value
            assert isinstance(value, (cst.Tuple, cst.List))
            names = [code_of(e.value) for e in value.elements]
            if len(names) != len(cfg.losses):
                return None
            acts: list[str | None] = []
            for name, loss in zip(names, cfg.losses, strict=True):
                head = heads.get(name)
                kinds = next((k for t, k in _ACTIVATIONS.values()
                              if head is not None and t == head[1]), ())
                ok = head is not None and loss is not None and loss.logits is not None \
                    and loss.kind in kinds
                acts.append(head[1] if ok and head is not None else None)
            return tuple(acts) if any(acts) else None
    return None


def split_heads(cls: cst.ClassDef, acts: tuple[str | None, ...]) -> cst.ClassDef:
    """``forward`` → ``logits``: each returned output without the activation in ``acts``."""
    fn = _forward(cls)
    heads = _heads(fn) if fn is not None else None
    if fn is None or heads is None or not isinstance(fn.body, cst.IndentedBlock):
        return cls
    body = list(fn.body.body)
    ret = body[-1]
    assert isinstance(ret, cst.SimpleStatementLine) and isinstance(ret.body[0], cst.Return)
    value = ret.body[0].value
    assert isinstance(value, (cst.Tuple, cst.List))
    drop: set[int] = set()
    for element, act in zip(value.elements, acts, strict=True):
        name = code_of(element.value)
        if act is None or name not in heads:
            continue
        at, _, inner = heads[name]
        stmt = body[at]
        assert isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Assign)
        if code_of(inner) == name:
            drop.add(at)  # ``x = F.softmax(x)``: nothing left to do
        else:
            body[at] = stmt.with_changes(body=[stmt.body[0].with_changes(value=inner)])
    body = [b for k, b in enumerate(body) if k not in drop]
    return _as_logits(cls, fn, body)


def split_forward(cls: cst.ClassDef) -> cst.ClassDef:
    """``forward`` → ``logits``: the same body without its last activation."""
    fn = _forward(cls)
    found = _last(fn) if fn is not None else None
    if fn is None or found is None or not isinstance(fn.body, cst.IndentedBlock):
        return cls
    at, call = found
    act = _activation(call)
    if act is None:
        return cls
    inner = act[1]
    body = list(fn.body.body)
    stmt = body[at]
    assert isinstance(stmt, cst.SimpleStatementLine)
    small = stmt.body[0]
    if isinstance(small, cst.Return):
        body[at] = stmt.with_changes(body=[small.with_changes(value=inner)])
    elif isinstance(small, cst.Assign):
        if code_of(small.targets[0].target) == code_of(inner):
            del body[at]  # ``x = F.softmax(x)`` (an Activation layer): nothing left to do
        else:
            body[at] = stmt.with_changes(body=[small.with_changes(value=inner)])
    return _as_logits(cls, fn, body)


def _as_logits(cls: cst.ClassDef, fn: cst.FunctionDef, body: list[cst.BaseStatement]
               ) -> cst.ClassDef:
    doc = cst.parse_statement('"""Outputs before the final activation: the loss reads these."""\n')
    if body and _is_docstring(body[0]):
        body = body[1:]
    logits = fn.with_changes(name=cst.Name("logits"),
                             body=fn.body.with_changes(body=[doc, *body]))
    assert isinstance(cls.body, cst.IndentedBlock)
    members = [logits if m is fn else m for m in cls.body.body]
    return cls.with_changes(body=cls.body.with_changes(body=members))


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, cst.SimpleString))
