"""Op rows for ``tf.nn`` losses and ``keras.ops.image.resize`` (``tf.image``: image_io.py).

Losses are written from their definitions along the last axis (TF's class axis) so they hold
for any rank, where ``F.cross_entropy`` would want the classes on axis 1. ``resize`` works on
Keras's channels-last batches: channels move first for ``F.interpolate`` and back.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.rules.ops.spec import Bound, Op, atom, literal
from agent.rules.spec import Unsupported

NN, IMG, KIMG = "tensorflow.nn", "tensorflow.image", "keras.ops.image"

ROWS: list[tuple[list[str], Op]] = []


def _row(names: list[str], op: Op) -> None:
    ROWS.append((names, op))


# ---------------------------------------------------------------------------- losses
def _labels_logits(b: Bound) -> tuple[str, str]:
    if not b.has("labels") or not b.has("logits"):
        raise Unsupported(f"{b.op} needs labels= and logits=")
    return b.code("labels"), b.code("logits")


def _sigmoid_xent(b: Bound) -> str:
    labels, logits = _labels_logits(b)
    return (f"F.binary_cross_entropy_with_logits({logits}, {atom(labels)}.to({atom(logits)}"
            '.dtype), reduction="none")')


def _softmax_xent(b: Bound) -> str:
    labels, logits = _labels_logits(b)
    axis = b.code("axis", "-1")
    return f"-({atom(labels)} * F.log_softmax({logits}, dim={axis})).sum(dim={axis})"


def _sparse_xent(b: Bound) -> str:
    labels, logits = _labels_logits(b)
    return (f"-F.log_softmax({logits}, dim=-1).gather(-1, {atom(labels)}.long().unsqueeze(-1))"
            ".squeeze(-1)")


_row([f"{NN}.sigmoid_cross_entropy_with_logits"], Op(
    "", ("labels", "logits"), handler=_sigmoid_xent,
    examples=(("tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z)",
               'F.binary_cross_entropy_with_logits(z, y.to(z.dtype), reduction="none")'),)))
_row([f"{NN}.softmax_cross_entropy_with_logits"], Op(
    "", ("labels", "logits", "axis"), handler=_softmax_xent,
    examples=(("tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=z)",
               "-(y * F.log_softmax(z, dim=-1)).sum(dim=-1)"),)))
_row([f"{NN}.sparse_softmax_cross_entropy_with_logits"], Op(
    "", ("labels", "logits"), handler=_sparse_xent))
_row([f"{NN}.l2_loss"], Op("", ("t",), handler=lambda b: (
    f"torch.sum(torch.square({b.code('t')})) / 2")))
_row([f"{NN}.bias_add"], Op("", ("value", "bias"), pos=2, handler=lambda b: (
    f"{b.code('value')} + {atom(b.code('bias'))}")))
_row([f"{NN}.embedding_lookup"], Op("", ("params", "ids"), pos=2, handler=lambda b: (
    f"F.embedding({b.code('ids')}, {b.code('params')})")))


# ---------------------------------------------------------------------------- images
_MODES = {"bilinear": 'mode="bilinear", align_corners=False',
          "nearest": 'mode="nearest-exact"'}  # TF2: half-pixel centres
# not bicubic: TF's kernel is Keys a = -0.5, torch's a = -0.75


def _resize(image: str, size: str, method: str, antialias_param: str | None
            ) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        mode = literal(b, method) if b.has(method) else "bilinear"
        mode = str(mode).lower().replace("resizemethod.", "")
        if mode not in _MODES:
            raise Unsupported(f"{b.op}(method={b.code(method)})")
        for flag in ("preserve_aspect_ratio", "crop_to_aspect_ratio", "pad_to_aspect_ratio"):
            if b.has(flag) and b.code(flag) != "False":
                raise Unsupported(f"{b.op}({flag}=...)")
        extra = ""
        if antialias_param and b.has(antialias_param) and b.code(antialias_param) != "False":
            if mode == "nearest":
                raise Unsupported(f"{b.op}: antialias with nearest")
            extra = f", antialias={b.code(antialias_param)}"
        x = atom(b.code(image))
        sz = b.code(size)
        if sz.startswith("["):
            sz = "(" + sz[1:-1] + ")"
        return (f"F.interpolate({x}.permute(0, 3, 1, 2), size={sz}, {_MODES[mode]}{extra})"
                ".permute(0, 2, 3, 1)")

    return handler


_row([f"{KIMG}.resize"], Op(
    "", ("images", "size", "interpolation", "antialias", "crop_to_aspect_ratio",
         "pad_to_aspect_ratio"),
    handler=_resize("images", "size", "interpolation", "antialias")))
