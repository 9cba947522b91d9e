"""Keras's implicit masks in a subclass's ``call()``: ``mask = x != 0`` where the
``Embedding(mask_zero=True)``/``Masking`` sub-layer is called, passed to the recurrent layers
and GlobalAveragePooling1D that read it (the rules of ``models/masks.py``, statement by
statement); custom layers' ``compute_mask``, ``supports_masking`` and ``call(x, mask=None)``
as in ``models/masks.py``. A mask reaching anything else that may read it (the returned
value, where Keras's loss would skip masked steps; a sub-model, a custom layer called on
several tensors) keeps the source's warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from agent.rules.classes.layers import SubLayer
from agent.rules.models.masks import DROP, PROPAGATE, RECURRENT, SOURCE_TEXTS, masked_call
from agent.rules.spec import Built, NotStatic


@dataclass
class Tracker:
    pending: list[str] = field(default_factory=list)  # mask statements for the next line
    made: dict[str, str] = field(default_factory=dict)  # mask -> its statement
    sources: list[SubLayer] = field(default_factory=list)
    custom_sources: list[str] = field(default_factory=list)  # self.<attr> with compute_mask
    used: set[str] = field(default_factory=set)
    failed: bool = False

    def call(self, layer: SubLayer, built: Built, x_code: str, mask: str | None,
             taken: set[str]) -> tuple[str, str | None]:
        """The forward template of ``layer`` called on a tensor with ``mask``, and the mask
        of its output."""
        kind, args = layer.keras_name, layer.args
        try:
            zero = kind == "Embedding" and args.get("mask_zero") is True
            if zero or kind == "Masking":
                name = "mask"
                while name in taken or name in self.made:
                    name += "_"
                value = args.code("mask_value") if kind == "Masking" else "0"
                test = f"{x_code} != 0" if zero else f"({x_code} != {value}).any(dim=-1)"
                self.made[name] = f"{name} = {test}"
                self.pending.append(self.made[name])
                self.sources.append(layer)
                if kind == "Masking":  # its own output reads the mask
                    self.used.add(name)
                forward = f"{{x}} * {name}.unsqueeze(-1)" if kind == "Masking" else built.forward
                return forward, name
            if mask is None:
                return built.forward, None
            if kind in PROPAGATE:
                return built.forward, mask
            if kind in DROP:
                return built.forward, None
            if kind in RECURRENT and built.modules and built.modules[0][1].startswith(
                    ("nn.LSTM(", "nn.GRU(", "nn.RNN(")) and not args.get("stateful"):
                self.used.add(mask)
                if args.get("go_backwards"):
                    mask += ".flip(1)"
                masked = masked_call(built.forward, mask, False)
                if masked is not None:
                    return masked, mask if args.get("return_sequences") else None
            if kind == "GlobalAveragePooling1D" and args.get("keepdims") is False \
                    and args.get("data_format") in (None, "channels_last"):
                self.used.add(mask)
                return (f"({{x}} * {mask}.unsqueeze(-1)).sum(dim=1) / "
                        f"{mask}.sum(dim=1, keepdim=True)"), None
        except NotStatic:
            pass
        self.failed = True
        return built.forward, None

    def computed(self, attr: str, x_code: str, mask: str | None, taken: set[str]) -> str:
        """The mask a custom layer's ``compute_mask`` gives ``self.<attr>``'s output."""
        name = "mask"
        while name in taken or name in self.made:
            name += "_"
        if mask is not None:
            self.used.add(mask)
        given = f", {mask}" if mask is not None else ""
        self.made[name] = f"{name} = self.{attr}.compute_mask({x_code}{given})"
        self.pending.append(self.made[name])
        self.custom_sources.append(attr)
        return name

    def lost(self) -> list[str]:
        """The custom layers whose computed mask a reader the rules do not reproduce gets."""
        return list(dict.fromkeys(self.custom_sources)) if self.failed else []

    def passed(self, call: cst.Call, masked: set[str]) -> None:
        """A masked tensor passed to something that may read its mask (a sub-model)."""
        if any(isinstance(a.value, cst.Name) and a.value.value in masked for a in call.args):
            self.failed = True

    def returned(self, mask: str | None, value: cst.BaseExpression, masked: set[str]) -> None:
        """A masked tensor returned: Keras's loss and metrics would skip its masked steps."""
        items = value.elements if isinstance(value, (cst.Tuple, cst.List)) else ()
        if mask is not None or any(isinstance(e.value, cst.Name) and e.value.value in masked
                                   for e in items):
            self.failed = True

    def finish(self, body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        """Drop the sources' warnings when every reader was reproduced, and the statements
        of masks nothing read."""
        if not self.failed:
            for layer in self.sources:
                if layer.built is not None:
                    layer.built.warnings = tuple(w for w in layer.built.warnings
                                                 if not w.startswith(SOURCE_TEXTS))
        unused = {s for n, s in self.made.items() if n not in self.used}
        return [s for s in body if not (isinstance(s, cst.SimpleStatementLine) and cst.Module(
            []).code_for_node(s.with_changes(leading_lines=())).strip() in unused)]
