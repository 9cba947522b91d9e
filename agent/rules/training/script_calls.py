"""Script-level Keras/TF calls around training that need no framework once the model is torch:
seeding, session and plotting helpers, and argument-free config getters.

``tf.random.set_seed(42)`` seeds the ops that torch now runs, so it becomes
``torch.manual_seed(42)``; ``keras.backend.clear_session()`` frees Keras's global graph
state, which a torch script does not have; ``keras.utils.plot_model`` draws a Keras model
(needs pydot and Graphviz) and has no torch counterpart in the converted script's
dependencies: dropped, with a report warning. Statements are only rewritten when no Keras
model is left in the file (the calls still act on it otherwise), except the seed: with a
Keras model left and torch code beside it, both frameworks draw random numbers, so the TF
seed stays and ``torch.manual_seed`` follows it. Expressions used as values
(``path = plot_model(...)``) are left for a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import PositionProvider

from agent.rules.imports import ImportTable

# canonical name -> replacement callee ("" = drop the statement), and why (report)
STATEMENTS: dict[str, tuple[str, str]] = {
    "tensorflow.random.set_seed": ("torch.manual_seed", "seeds the torch ops that replace TF's"),
    "tensorflow.set_random_seed": ("torch.manual_seed", "seeds the torch ops that replace TF's"),
    "tensorflow.compat.v1.set_random_seed": ("torch.manual_seed",
                                             "seeds the torch ops that replace TF's"),
    "keras.backend.clear_session": ("", "a torch script has no global Keras graph to clear"),
    "keras.utils.clear_session": ("", "a torch script has no global Keras graph to clear"),
    "keras.utils.plot_model": ("", "draws a Keras model (pydot/Graphviz); print the "
                                   "LightningModule or use torchview to draw it"),
}

# canonical name of an argument-free getter -> its Keras default value
CONSTANTS: dict[str, str] = {
    "keras.backend.epsilon": "1e-07",
    "keras.config.epsilon": "1e-07",
    "keras.backend.floatx": '"float32"',
    "keras.config.floatx": '"float32"',
}

SEED = "torch.manual_seed"
SEED_BOTH = ("a Keras model is left in this script and TF seeds its ops; the converted "
             "torch code draws from torch's generator, seeded beside it")

_HINT = ("set_seed", "set_random_seed", "clear_session", "plot_model", "epsilon", "floatx")


@dataclass
class Rewritten:
    code: str
    changes: list[tuple[int, str, str]] = field(default_factory=list)  # (line, rule, message)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    kept: list[tuple[int, str, str]] = field(default_factory=list)  # (line, name, why)


class _Calls(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, imports: ImportTable, source_lines: list[str], models_left: bool = False
                 ) -> None:
        self.imports = imports
        self.source_lines = source_lines
        self.models_left = models_left  # only the seeds: kept, and torch's seeded beside them
        self.out = Rewritten("")

    def _line(self, node: cst.CSTNode) -> int:
        """The line in the user's source: earlier rules may have moved the code, so the
        statement's first line is looked up there (its line in the current code otherwise)."""
        first = cst.Module([]).code_for_node(node).strip().splitlines()
        here = self.get_metadata(PositionProvider, node).start.line
        if first:
            hits = [k + 1 for k, text in enumerate(self.source_lines) if first[0] in text]
            if hits:
                return min(hits, key=lambda k: abs(k - here))
        return here

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine
                                  ) -> cst.BaseStatement | cst.RemovalSentinel \
            | cst.FlattenSentinel[cst.BaseStatement]:
        if len(updated.body) != 1 or not isinstance(updated.body[0], cst.Expr):
            return updated
        call = updated.body[0].value
        if not isinstance(call, cst.Call):
            return updated
        qual = self.imports.resolve(call.func) or ""
        if qual not in STATEMENTS:
            return updated
        callee, why = STATEMENTS[qual]
        line = self._line(original)
        short = qual.rsplit(".", 1)[-1]
        if self.models_left:
            if callee != SEED:
                return updated
            self.out.changes.append((line, f"script.{short}", f"{qual} kept and {callee} "
                                     f"added: {SEED_BOTH}"))
            self.out.kept.append((line, qual, f"{qual} kept: {SEED_BOTH}"))
            seeded = updated.with_changes(body=[updated.body[0].with_changes(
                value=call.with_changes(func=cst.parse_expression(callee)))],
                leading_lines=[])
            return cst.FlattenSentinel([updated, seeded])
        if callee:
            self.out.changes.append((line, f"script.{short}", f"{qual} -> {callee} ({why})"))
            new = updated.with_changes(body=[updated.body[0].with_changes(
                value=call.with_changes(func=cst.parse_expression(callee)))])
            return new  # fix_imports binds torch above its first use
        self.out.changes.append((line, f"script.{short}", f"{qual} dropped ({why})"))
        if short == "plot_model":
            self.out.warnings.append((line, f"keras.utils.plot_model dropped: {why}"))
        return cst.RemoveFromParent()

    def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock
                            ) -> cst.IndentedBlock:
        if not updated.body:  # every statement of the block was dropped
            return updated.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        qual = self.imports.resolve(updated.func) or ""
        if qual in CONSTANTS and not updated.args and not self.models_left:
            self.out.changes.append((self._line(original), f"script.{qual.rsplit('.', 1)[-1]}",
                                     f"{qual}() -> {CONSTANTS[qual]} (Keras's default)"))
            return cst.parse_expression(CONSTANTS[qual])
        return updated


def rewrite_script_calls(code: str, imports: ImportTable, models_left: bool,
                         source: str = "") -> Rewritten:
    """``code`` with the calls above rewritten; with a Keras model left, only the seeds
    (when torch code is there to seed)."""
    if not any(h in code for h in _HINT) or models_left and "torch." not in code:
        return Rewritten(code)
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return Rewritten(code)
    calls = _Calls(imports, (source or code).splitlines(), models_left)
    new = cst.MetadataWrapper(module, unsafe_skip_copy=True).visit(calls)
    calls.out.code = new.code if calls.out.changes else code
    return calls.out
