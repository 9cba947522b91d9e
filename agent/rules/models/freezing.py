"""``for layer in stem: layer.trainable = False`` on a list of layers a model was built from.

The list's Keras layers become modules of the converted model; the loop becomes one call of
``set_trainable`` (``runtime/pretrained.py``) on that model with the modules' attribute names,
at the loop's own place in the script (a freeze after a first training stays after it).
Frozen means what Keras means: no gradients, BatchNorm in inference mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from agent.rules.values import evaluate


def freeze_value(stmt: cst.BaseStatement, name: str) -> bool | None:
    """``for <v> in <name>: <v>.trainable = <True|False>`` -> that bool; None for any other
    statement."""
    if not (isinstance(stmt, cst.For) and isinstance(stmt.iter, cst.Name)
            and stmt.iter.value == name and isinstance(stmt.target, cst.Name)
            and stmt.orelse is None and isinstance(stmt.body, cst.IndentedBlock)
            and len(stmt.body.body) == 1):
        return None
    line = stmt.body.body[0]
    if not (isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1
            and isinstance(line.body[0], cst.Assign) and len(line.body[0].targets) == 1):
        return None
    target = line.body[0].targets[0].target
    if not (isinstance(target, cst.Attribute) and target.attr.value == "trainable"
            and isinstance(target.value, cst.Name) and target.value.value == stmt.target.value):
        return None
    value = evaluate(line.body[0].value).value
    return value if isinstance(value, bool) else None


def set_trainable(stmt: cst.BaseStatement, model: str, attrs: Sequence[str], trainable: bool
                  ) -> cst.BaseStatement:
    """The loop ``stmt`` as one ``set_trainable`` call on the converted ``model``."""
    quoted = [f'"{a}"' for a in attrs]
    names = f"({quoted[0]},)" if len(quoted) == 1 else "(" + ", ".join(quoted) + ")"
    call = cst.parse_statement(f"set_trainable({model}, {names}, {trainable})")
    lead = stmt.leading_lines if isinstance(stmt, cst.For) else ()
    return call.with_changes(leading_lines=lead)

