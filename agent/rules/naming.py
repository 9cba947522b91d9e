"""Names: Keras's auto layer names, class names for converted models, identifiers."""

from __future__ import annotations

import keyword
import re
from functools import lru_cache


@lru_cache(maxsize=1024)  # a file names the same few layer classes over and over
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
_GENERIC = {"", "model", "m", "net", "network", "mdl", "keras_model", "main", "train",
            "script", "run", "test", "demo", "example"}


def class_name_for(var: str, function: str | None, keras_name: str | None = None,
                   stem: str = "") -> str:
    """The class for a model, from the most specific name the source gives: the model's
    ``name=``, its variable, the builder function (``build_cnn`` → ``Cnn``), the file
    (``mlp.py`` → ``MlpModel``); never a bare ``Model``."""
    candidates = [keras_name or "", var]
    if function:
        candidates.append(_BUILDER.sub("", function) or function)
    for text in candidates:
        if text and text.lower().strip("_") not in _GENERIC and camel(text) != "Model":
            return camel(text)
    base = camel(stem) if stem.lower().strip("_") not in _GENERIC else ""
    if not base or base == "Model":
        return "KerasModel"
    return base if base.endswith(("Model", "Net", "Network", "Classifier")) else base + "Model"


# LightningModule attributes and generated methods a layer attribute must not shadow
RESERVED = frozenset({
    "training", "forward", "logits", "device", "dtype", "trainer", "log", "log_dict",
    "hparams", "parameters", "modules", "children", "apply", "eval", "train", "cuda", "cpu",
    "float", "half", "double", "to", "state_dict", "optimizers", "logger", "loss", "metrics",
    "train_metrics", "val_metrics", "test_metrics", "example_input_array", "current_epoch",
    "global_step", "precision", "zero_grad", "register_buffer", "buffers", "layers", "type",
    "regularization_loss", "training_step", "validation_step", "test_step", "predict_step",
    "configure_optimizers", "flat_batch", "save_hyperparameters", "name",
})


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
        if name in RESERVED:
            name += "_layer"
        if name in self.taken:
            return self.next(name)
        self.taken.add(name)
        return name
