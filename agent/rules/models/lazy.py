"""Layers whose input size is unknown at conversion time: torch's ``nn.Lazy*`` forms.

A size can be unknown for many ordinary reasons (it comes from data, from a variable, from a
layer the rules only know by name). The layer is then built against a marker size and the
constructor turned into its Lazy form, which infers the size on the first batch; a layer
without a Lazy form stays unsupported, with a reason a person can act on.
"""

from __future__ import annotations

import re

from agent.rules.models.applications_table import BACKBONES
from agent.rules.models.shapes import Shape
from agent.rules.spec import Built, Unsupported

LAZY = "__k2l_lazy__"
_LAZY_CTOR = re.compile(
    r"nn\.(Linear|Conv[123]d|ConvTranspose[123]d|BatchNorm[123]d|InstanceNorm[123]d)"
    r"\(" + LAZY + r"(, )?")
# runtime cells, not in torch.nn (training/runtime/recurrent_cells.py, recurrent_dropout.py):
# subclasses of these, so the init loop's isinstance branch of the torch class covers them
_OWN_CELLS = {"ActivatedLSTM": "LSTM", "ResetBeforeGRU": "GRU", "GateDropoutLSTM": "LSTM",
              "GateDropoutGRU": "GRU"}
# recurrent layers: our LazyLSTM/LazyGRU/LazyRNN (training/runtime/lazy_modules.py) and the
# lazy forms of the runtime cells (LazyActivatedLSTM, ...)
_LAZY_RECURRENT = re.compile(r"(?:nn\.(LSTM|GRU|RNN)|\b(" + "|".join(_OWN_CELLS) + r"))\("
                             + LAZY + r", ")
_LAZY_FORM = re.compile(r"(nn\.)?Lazy\w+\(")  # torch's nn.Lazy* and ours (LazyLayerNorm)
_RANK = re.compile(r"([123])D(Transpose)?$")
_SEQUENCE_LAYERS = ("LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "TimeDistributed",
                    "MultiHeadAttention", "Attention", "CuDNNLSTM", "CuDNNGRU")


# layers that act on the last axis whatever the rank: an unknown rank cannot mislead them
_RANK_FREE = ("Dense", "Dropout", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax",
              "LayerNormalization", "Embedding", "GaussianNoise", "GaussianDropout",
              "AlphaDropout", "Rescaling", "Identity", "ThresholdedReLU", "Flatten")


# image preprocessing/augmentation layers: Keras feeds them (height, width, channels) images
_IMAGE_LAYERS = ("Resizing", "CenterCrop", "RandomFlip", "RandomCrop", "RandomContrast",
                 "RandomRotation", "RandomZoom", "RandomTranslation", "RandomBrightness",
                 *sorted({b.keras for b in BACKBONES.values()}))  # keras.applications too


# layers whose output has their input's shape: an unknown rank stays unknown after them
_SHAPE_KEEPING = ("Dropout", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax",
                  "GaussianNoise", "GaussianDropout", "AlphaDropout", "Rescaling", "Identity",
                  "ThresholdedReLU", "LayerNormalization")


# the warnings a dry call in __init__ answers: the sizes are then known before the optimizer
# is made, and the Keras initializers run on the sized modules
SIZED_BY_DRY_CALL = ("nn.LazyLinear infers it on first call",
                     "input size unknown: nn.Lazy module, Keras initializers not reproduced")


# elementwise merges: any rank, the output has the inputs' shape; with an input of unknown
# shape they are built on the same layout only, and their output stays unknown
ELEMENTWISE_MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")


def sibling_shapes(keras_name: str, shapes: list[Shape | None]) -> list[Shape | None]:
    """``Add()([x, custom(x)])``: every input of an elementwise merge has the output's
    shape, so the unknown inputs take the known input's shape."""
    known = [s for s in shapes if s is not None]
    if keras_name not in ELEMENTWISE_MERGES or not known or len(known) == len(shapes):
        return shapes
    return [s if s is not None else known[0] for s in shapes]


def keeps_shape(keras_name: str) -> bool:
    """Whether the layer's output shape is its input's (Rescaling, Dropout, activations)."""
    return keras_name in _SHAPE_KEEPING


def rank_implied(keras_name: str) -> bool:
    """Whether the layer itself says what rank its input has (Conv2D, LSTM) or does not
    care (Dense); BatchNormalization or Flatten on an unknown rank would be a guess."""
    return bool(_RANK.search(keras_name)) or keras_name in _SEQUENCE_LAYERS \
        or keras_name in _RANK_FREE or keras_name in _IMAGE_LAYERS


def rank_of(keras_name: str) -> int:
    """Input rank (without batch) a layer expects: Conv2D -> 3, LSTM -> 2, Dense -> 1."""
    if keras_name == "ConvLSTM2D":  # (time, rows, cols, channels)
        return 4
    m = _RANK.search(keras_name)
    if m:
        return int(m.group(1)) + 1
    if keras_name in _IMAGE_LAYERS:
        return 3
    return 2 if keras_name in _SEQUENCE_LAYERS else 1


def fake_shape(keras_name: str) -> Shape:
    """An input of the right rank for a layer whose input shape is unknown."""
    return (None,) * (rank_of(keras_name) - 1) + (LAZY,)


def unknown_shape(keras_name: str) -> Shape:
    """The right rank, every size unknown."""
    return (None,) * rank_of(keras_name)


# the class a lazy constructor becomes after its first batch
_MATERIALIZED = re.compile(r"(?:nn\.Lazy|Lazy)(\w+)\(")

_LAZY_INIT_WARNINGS = ("input size unknown: nn.Lazy module, Keras initializers not reproduced",)


def materialized(ctor: str) -> str:
    """``nn.LazyLinear(8)`` -> ``nn.Linear(8)``, ``LazyLSTM(4, ...)`` -> ``nn.LSTM(4, ...)``
    (``LazyActivatedLSTM`` too: an ``nn.LSTM``): what the init templates see once the first
    batch has given the sizes."""
    return _MATERIALIZED.sub(lambda m: f"nn.{_OWN_CELLS.get(m.group(1), m.group(1))}(", ctor,
                             count=1)


def not_reproduced() -> str:
    """The warning for a lazy layer whose Keras initializers are dropped."""
    return _LAZY_INIT_WARNINGS[0]


def lazify(keras_name: str, built: Built, keep_init: bool = False) -> Built:
    """``built`` with its marker-sized constructors in their ``nn.Lazy*`` form.

    ``keep_init``: the caller runs the Keras initializers once the first batch has given
    the sizes (models/codegen.py); otherwise they are dropped with a warning."""
    modules = tuple((sfx, _LAZY_RECURRENT.sub(
        lambda m: f"Lazy{m.group(1) or m.group(2)}(",
        _LAZY_CTOR.sub(lambda m: f"nn.Lazy{m.group(1)}(", ctor))) for sfx, ctor in built.modules)
    out = built.out if isinstance(built.out, tuple) else None
    out_shape = tuple(None if d == LAZY or (isinstance(d, str) and LAZY in d) else d
                      for d in out) if out is not None else ()
    if LAZY in repr(modules) or LAZY in built.forward or LAZY in repr(built.stmts):
        raise Unsupported(f"{keras_name}: input size unknown statically and torch has "
                          "no Lazy form of it; give the model an input shape")
    lazy = built.lazy or any(_LAZY_FORM.match(c) for _, c in modules)
    warnings = tuple(w for w in built.warnings if "Lazy" not in w)
    init = () if lazy and not keep_init else built.init  # nn.init: not on lazy parameters
    if lazy and built.init and not keep_init:
        warnings += _LAZY_INIT_WARNINGS
    return Built(out=out_shape, forward=built.forward, stmts=built.stmts, modules=modules,
                 init=init, layout=built.layout, out_layout=built.out_layout,
                 activation=built.activation, warnings=warnings, lazy=lazy,
                 lazy_init=built.lazy_init or (built.init if lazy else ()),
                 passed_class=built.passed_class)


# BatchNorm1d over (batch, channels, positions): any Keras rank folds into that shape
_ANY_RANK_BN = ("{m}({x}.reshape({x}.size(0), -1, {x}.size(-1)).transpose(1, 2))"
                ".transpose(1, 2).reshape({x}.shape)")


def any_rank(keras_name: str, built: Built) -> Built:
    """A layer whose input rank is unknown where it is built (a subclass's sub-layer): the
    rank-1 build of BatchNormalization would normalize the wrong axis of a sequence or an
    image, so its forward folds every non-channel axis into one and works for any rank."""
    if keras_name != "BatchNormalization" or built.forward != "{m}({x})":
        return built
    return Built(out=built.out, forward=_ANY_RANK_BN, stmts=built.stmts, modules=built.modules,
                 init=built.init, layout="keras", out_layout="keras",
                 activation=built.activation,
                 warnings=(*built.warnings, "input rank unknown: the last axis is normalized "
                           "whatever the rank"), lazy=built.lazy, lazy_init=built.lazy_init)
