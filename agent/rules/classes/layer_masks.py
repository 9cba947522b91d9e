"""How a custom layer takes part in Keras's implicit masks, read off its class.

Keras gives a layer's output the mask its ``compute_mask`` returns (``supports_masking`` is
True once ``compute_mask`` is overridden, or when ``__init__`` sets it: the default
``compute_mask`` then passes the input's mask on), and passes the input's mask to a ``call``
that has a ``mask`` parameter (Keras 2 and 3 agree when the layer is called on one tensor).
Called on several tensors, Keras 2 passes the first one's mask as ``mask`` and Keras 3 none,
but each one's as ``<arg>_mask`` where call() has that parameter (both give the output the
first input's mask); ``keras`` says which Keras the script was written for
(keras_generation.py). A functional model converted by the rules makes those masks explicit
(``models/masks.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

# the start of the class's warning (classes/transform.py); dropped where every model
# calling the layer passes it the mask
READS_MASK = "call() reads mask, which Keras passed implicitly"
LOST_MASK_WARNINGS = ("the mask its compute_mask attaches is not passed on (a reader the rules "
                      "do not reproduce, or the model's output, where Keras's loss skips "
                      "masked steps): the layers after it compute the steps Keras masks",)


@dataclass(frozen=True)
class CustomMask:
    computes: bool  # defines compute_mask: its output's mask is compute_mask(inputs, mask)
    passes: bool  # supports_masking without compute_mask: the input's mask is passed on
    reads: bool  # call()/forward takes ``mask``: Keras passes the input's mask to it
    keras: int | None = None  # the script's Keras (2, 3; None: unknown)
    params: tuple[str, ...] = ()  # call()'s parameters after self, in order
    arg_masks: frozenset[str] = frozenset()  # p of forward's ``<p>_mask`` parameters (Keras 3)

    def call_masks(self, masks: list[str | None]) -> dict[str, str] | None:
        """forward's mask keywords for a call on positional tensors with ``masks`` (None:
        no mask attached): what the script's Keras passes; None when that depends on a Keras
        the script does not name."""
        if len(masks) == 1:
            return {"mask": masks[0]} if self.reads and masks[0] is not None else {}
        first = {"mask": masks[0]} if self.reads and masks[0] is not None else {}
        named = {f"{p}_mask": m for p, m in zip(self.params, masks, strict=False)
                 if p in self.arg_masks and m is not None}
        if not first and not named:
            return {}  # Keras 2 and 3 both pass none
        if self.keras == 2:
            return first
        if self.keras == 3:
            return named
        return None


def _methods(cls: cst.ClassDef) -> dict[str, cst.FunctionDef]:
    return {s.name.value: s for s in cls.body.body if isinstance(s, cst.FunctionDef)}


def _params(fn: cst.FunctionDef | None) -> list[str]:
    return [p.name.value for p in fn.params.params] if fn is not None else []


def _sets_supports_masking(init: cst.FunctionDef | None) -> bool:
    """``self.supports_masking = True`` directly in ``__init__``'s body."""
    if init is None or not isinstance(init.body, cst.IndentedBlock):
        return False
    for stmt in init.body.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Assign) and isinstance(small.value, cst.Name) \
                    and small.value.value == "True" and any(
                        isinstance(t.target, cst.Attribute) and isinstance(t.target.value, cst.Name)
                        and t.target.value.value == "self" and t.target.attr.value == "supports_masking"
                        for t in small.targets):
                return True
    return False


def layer_masks(original: cst.ClassDef, converted: cst.ClassDef, keras: int | None = None
                ) -> CustomMask | None:
    """The class's mask behaviour (all False: Keras 3 drops an input's mask there), or None
    when the converted class lost ``compute_mask`` (the model cannot reproduce the mask).
    ``keras``: the script's Keras generation."""
    before, after = _methods(original), _methods(converted)
    computes = "compute_mask" in before
    if computes and "compute_mask" not in after:
        return None
    reads = "mask" in _params(before.get("call"))
    if reads and "mask" not in _params(after.get("forward")):
        reads = False  # forward dropped an unused mask: nothing to pass
    passes = not computes and _sets_supports_masking(before.get("__init__"))
    params = tuple(p for p in _params(before.get("call"))[1:] if p not in ("mask", "training"))
    kept = set(_params(after.get("forward")))
    arg_masks = frozenset(p for p in params if f"{p}_mask" in params and f"{p}_mask" in kept)
    params = tuple(p for p in params if not (p.endswith("_mask") and p[:-5] in params))
    return CustomMask(computes, passes, reads, keras, params, arg_masks)
