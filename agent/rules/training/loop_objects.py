"""Optimizers, schedules and model weights of standalone training loops (tape_loop.py's
helpers): what a reinforcement-learning or style-transfer script does with its models
between ``apply_gradients`` calls.

* ``keras.optimizers.schedules.X(...)`` anywhere → ``KerasSchedule(initial, lambda step:
  factor)`` (runtime/schedules.py; the formula from optimizers.py's table), and an optimizer
  given one (inline, by name, or a ``LearningRateSchedule`` subclass) keeps it as its
  ``lr``: ``KerasOptimizer`` reads it at every step, as Keras does;
* ``clipnorm``/``clipvalue``/``global_clipnorm`` pass to ``KerasOptimizer``, which clips
  as Keras does (per gradient, then over all, then by value);
* ``model.get_weights()`` / ``set_weights(w)`` → ``layer_weights(model)`` /
  ``set_layer_weights(model, w)`` (runtime/layer_weights.py: Keras's layout and order, so
  NumPy code on the arrays sees Keras's shapes); ``model.variables`` /
  ``.weights`` → ``module_variables(model)``; ``w.assign(v)`` on such a weight writes in
  place without recording (a target network's soft update).
"""

from __future__ import annotations

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.models.graph import ModelIR, Tensor
from agent.rules.training.compile import CompileReader
from agent.rules.values import code_of

CLIPS = ("clipnorm", "clipvalue", "global_clipnorm")
WEIGHT_LISTS = ("variables", "weights")
WEIGHT_METHODS = {"get_weights": "layer_weights", "set_weights": "set_layer_weights"}
WEIGHT_CALLS = frozenset(WEIGHT_METHODS.values())
_SCHEDULES = "keras.optimizers.schedules."


def loop_ir() -> ModelIR:
    """A one-input, one-output stand-in model: the compile readers want one."""
    return ModelIR("Model", "", "Loop", 0, [Tensor("x", None)], [], [], [Tensor("y", None)])


def is_schedule(qual: str) -> bool:
    return qual.startswith(_SCHEDULES) and qual.count(".") == 3


def schedule(node: cst.BaseExpression, imports: ImportTable) -> tuple[str, str] | None:
    """(initial lr code, ``KerasSchedule(...)`` code) of a built-in schedule call; None when
    the schedule has no row or one of its arguments does not convert."""
    reader = CompileReader(imports, lambda n: n, loop_ir(), code_of)
    initial = reader._schedule(node)
    if initial is None or reader.cfg.todos or reader.cfg.schedule is None:
        return None
    return initial, f"KerasSchedule({initial}, lambda step: {reader.cfg.schedule})"


def learning_rate_arg(call: cst.Call) -> cst.BaseExpression | None:
    """The ``learning_rate`` (Keras 2: ``lr``) of an optimizer call, first positional."""
    for k, arg in enumerate(call.args):
        if arg.keyword is not None and arg.keyword.value in ("learning_rate", "lr"):
            return arg.value
        if arg.keyword is None and not arg.star and k == 0:
            return arg.value
    return None


def clip_keywords(call: cst.Call) -> list[str] | None:
    """``clipnorm=1.0``-style keywords to pass on; None for a positional or starred use."""
    out: list[str] = []
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value in CLIPS:
            if code_of(arg.value) != "None":
                out.append(f"{arg.keyword.value}={code_of(arg.value)}")
        elif arg.star:
            return None
    return out


def weights_call(updated: cst.Call, original: cst.Call, imports: ImportTable
                 ) -> cst.Call | None:
    """``m.get_weights()`` → ``layer_weights(m)``, ``m.set_weights(w)`` →
    ``set_layer_weights(m, w)``; None for any other call, and for a layer the model rules
    did not resolve (``m.get_layer(n)``: the module it names is not known here)."""
    func = updated.func
    if not (isinstance(func, cst.Attribute) and func.attr.value in WEIGHT_METHODS):
        return None
    if isinstance(func.value, cst.Call) or isinstance(func.value, cst.Subscript):
        return None
    if imports.resolve(original.func) is not None or any(a.keyword or a.star
                                                         for a in updated.args):
        return None
    wanted = 0 if func.attr.value == "get_weights" else 1
    if len(updated.args) != wanted:
        return None
    receiver = cst.Arg(func.value, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
                       if wanted else cst.MaybeSentinel.DEFAULT)
    args = [receiver, *(a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in updated.args)]
    return cst.Call(cst.Name(WEIGHT_METHODS[func.attr.value]), args)




def model_names(module: cst.Module) -> set[str]:
    """Names a loop treats as models: receivers of ``trainable_variables``/``weights``/
    ``get_weights``/``set_weights`` (never ``self``)."""
    out: set[str] = set()
    wanted = {"trainable_variables", "trainable_weights", *WEIGHT_LISTS, *WEIGHT_METHODS}

    class Find(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> None:
            if node.attr.value in wanted and isinstance(node.value, cst.Name) \
                    and node.value.value != "self":
                out.add(node.value.value)

        def visit_Call(self, node: cst.Call) -> None:  # the training rules' spelling of them
            if isinstance(node.func, cst.Name) and node.func.value in WEIGHT_CALLS \
                    and node.args and isinstance(node.args[0].value, cst.Name):
                out.add(node.args[0].value.value)

    module.visit(Find())
    return out


def unpacked_inputs(updated: cst.Call, models: set[str]) -> cst.Call:
    """``critic([state, action])`` → ``critic(state, action)``: a Keras model takes its
    inputs as one list, the converted module's ``forward`` one argument each."""
    if not (isinstance(updated.func, cst.Name) and updated.func.value in models):
        return updated
    positional = [a for a in updated.args if a.keyword is None]
    if len(positional) != 1 or positional[0].star or not isinstance(
            positional[0].value, (cst.List, cst.Tuple)):
        return updated
    elements = positional[0].value.elements
    if len(elements) < 2 or any(isinstance(e, cst.StarredElement) for e in elements):
        return updated
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    inputs = [cst.Arg(e.value, comma=comma) for e in elements]
    rest = [a for a in updated.args if a is not positional[0]]
    args = [*inputs, *rest]
    args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return updated.with_changes(args=args)


def plain_schedule(node: cst.ClassDef, imports: ImportTable) -> cst.ClassDef:
    """``class S(keras.optimizers.schedules.LearningRateSchedule)`` → ``class S:`` (its
    ``__call__(step)`` is all an optimizer asks of it)."""
    bases = [b for b in node.bases
             if imports.resolve(b.value) != f"{_SCHEDULES}LearningRateSchedule"]
    if len(bases) == len(node.bases):
        return node
    if bases:
        bases[-1] = bases[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return node.with_changes(bases=bases)
    return node.with_changes(bases=[], lpar=cst.MaybeSentinel.DEFAULT,
                             rpar=cst.MaybeSentinel.DEFAULT)


