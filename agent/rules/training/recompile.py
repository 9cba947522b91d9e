"""A class compiled again with other optimizer settings (fine-tuning: ``compile(Adam(1e-3));
fit; base.trainable = True; compile(Adam(1e-5)); fit``).

Each Keras ``compile()`` builds a fresh optimizer that the next ``fit`` uses; each
``Trainer.fit`` calls ``configure_optimizers`` afresh. So the settings that differ between
the compiles become attributes of the module (``self.learning_rate``), set in ``__init__``
to the first compile's values and assigned at each later compile, and
``configure_optimizers`` reads them: every fit trains with the settings of the compile
before it. Compiles that differ in anything else (the loss, metrics, the optimizer class, a
schedule) stay reported.
"""

from __future__ import annotations

import ast

import libcst as cst

from agent.rules.training.compile import CompileConfig
from agent.rules.values import code_of

# torch keyword → the attribute that holds it (Lightning's tuner reads ``learning_rate``)
ATTRIBUTES: dict[str, str] = {"lr": "learning_rate"}


def attribute(keyword: str) -> str:
    return ATTRIBUTES.get(keyword, keyword)


def _keywords(ctor: str) -> tuple[str, dict[str, str]] | None:
    """``Cls(self.parameters(), k=v, ...)`` → (``Cls``, {k: v}); None for any other form."""
    try:
        call = cst.parse_expression(ctor)
    except cst.ParserSyntaxError:
        return None
    if not isinstance(call, cst.Call) or not call.args or call.args[0].keyword is not None:
        return None
    if code_of(call.args[0].value) != "self.parameters()":
        return None
    out: dict[str, str] = {}
    for arg in call.args[1:]:
        if arg.keyword is None or arg.star:
            return None
        out[arg.keyword.value] = code_of(arg.value)
    return code_of(call.func), out


def _same_training(a: CompileConfig, b: CompileConfig) -> bool:
    """Everything but the optimizer's keyword values is the same."""
    losses = [(x.template, x.logits, x.weight) if x else None for x in a.losses]
    other = [(x.template, x.logits, x.weight) if x else None for x in b.losses]
    metrics = [[m.name for m in ms] for ms in a.metrics]
    return (losses == other and metrics == [[m.name for m in ms] for ms in b.metrics]
            and a.schedule == b.schedule and a.clipping == b.clipping
            and a.by_name is None and b.by_name is None and not a.todos and not b.todos
            and a.no_loss == b.no_loss)


def changed_settings(first: CompileConfig, second: CompileConfig,
                     held: dict[str, str]) -> dict[str, str] | None:
    """{torch keyword: the second compile's value} for the keywords read from attributes
    (``held`` and the ones that differ now), or None when the compiles differ otherwise.
    ``held``: {keyword: first value} of attributes an earlier recompile introduced."""
    if not _same_training(first, second):
        return None
    one, two = _keywords(first.optimizer), _keywords(second.optimizer)
    if one is None or two is None or one[0] != two[0] or set(one[1]) != set(two[1]):
        return None
    firsts = {k: held.get(k, v) for k, v in one[1].items()}
    keys = set(held) | {k for k, v in two[1].items() if v != firsts[k]}
    if not all(_number(two[1][k]) and _number(firsts[k]) for k in keys):
        return None  # a name may hold a schedule object or a builder parameter: left reported
    return {k: two[1][k] for k in sorted(keys)}


def _number(code: str) -> bool:
    """Literal numbers and arithmetic on them (``1e-3 / 10``): a torch hyperparameter as is."""
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:
        return False
    return all(isinstance(n, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.operator,
                              ast.unaryop, ast.Tuple, ast.Load))
               or (isinstance(n, ast.Constant) and isinstance(n.value, (int, float)))
               for n in ast.walk(tree))


def parameterized(first: CompileConfig, keys: dict[str, str]) -> dict[str, str]:
    """Rewrite ``first.optimizer`` to read ``keys`` from attributes; returns {keyword: the
    first compile's value} for ``__init__``."""
    parsed = _keywords(first.optimizer)
    assert parsed is not None
    cls, values = parsed
    firsts = {k: values[k] for k in keys}
    args = ", ".join(f"{k}=self.{attribute(k)}" if k in keys else f"{k}={v}"
                     for k, v in values.items())
    first.optimizer = f"{cls}(self.parameters(), {args})"
    return firsts
