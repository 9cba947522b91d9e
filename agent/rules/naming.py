"""Names: Keras's auto layer names, class names for converted models, identifiers."""

from __future__ import annotations

import keyword
import re


def keras_snake(name: str) -> str:
    """Keras's own ``to_snake_case``: the default layer name for class ``name``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def identifier(text: str) -> str:
    out = re.sub(r"\W", "_", text)
    if not out or out[0].isdigit():
        out = "_" + out
    return out + "_" if keyword.iskeyword(out) else out


def camel(text: str) -> str:
    """``conv_net`` → ``ConvNet``; a class name never starts with a digit (``build_2``)."""
    parts = [p for p in re.split(r"[_\W]+", text) if p]
    out = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
    return f"Model{out}" if out[0].isdigit() else out


_BUILDER = re.compile(r"^(build|make|create|get|define|construct)_?")


def class_name_for(var: str, function: str | None) -> str:
    """``model`` → ``Model``; ``return Sequential(...)`` in ``build_cnn`` → ``Cnn``."""
    generic = var in ("model", "m", "net", "network", "mdl", "keras_model")
    if var and not (generic and function and _BUILDER.match(function)):
        return camel(var)
    if function:
        stripped = _BUILDER.sub("", function)
        return camel(stripped or function)
    return "Model"


class NameCounter:
    """Keras-style ``dense``, ``dense_1``, ... unique within one model."""

    def __init__(self, taken: set[str] | None = None) -> None:
        self.counts: dict[str, int] = {}
        self.taken = set(taken or ())

    def next(self, base: str) -> str:
        while True:
            n = self.counts.get(base, 0)
            self.counts[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def claim(self, name: str) -> str:
        name = identifier(name)
        if name in self.taken:
            return self.next(name)
        self.taken.add(name)
        return name
