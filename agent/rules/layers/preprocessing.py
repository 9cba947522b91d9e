"""Image preprocessing and augmentation layers used inside models.

Deterministic ones (Resizing, CenterCrop) are written as tensor code with Keras's geometry.
Random augmentations run only while ``self.training`` (Keras applies them only in training)
and draw one random parameter per image as Keras 3 does; at inference they are the identity,
which is what the equivalence tests compare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from agent.rules.models.shapes import Shape
from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec, Unsupported

_MODES = {"bilinear": 'mode="bilinear", align_corners=False',
          "nearest": 'mode="nearest-exact"'}  # Keras/TF: half-pixel centres


def _image(a: Args, ins: Sequence[Shape], name: str) -> Shape:
    if a.get("data_format") not in (None, "channels_last"):
        raise Unsupported(f"{name}(data_format='channels_first')")
    shape = ins[0]
    if len(shape) != 3:
        raise Unsupported(f"{name} expects batches of (height, width, channels) images")
    return shape


def _forward_sizes(a: Args, ctx: BuildContext, name: str) -> None:
    """Sizes written into forward must be names forward can read: a subclass's __init__
    parameters are not (a model builder's become the class's own)."""
    if ctx.names_in_forward:
        return
    for arg in ("height", "width"):
        if a.has(arg) and not a.values[arg].known:
            raise Unsupported(f"{name}({arg}={a.code(arg)}) inside a subclass: forward "
                              "cannot read __init__'s names")


def _resizing(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    shape = _image(a, ins, "Resizing")
    for flag in ("crop_to_aspect_ratio", "pad_to_aspect_ratio", "antialias"):
        if a.get(flag):
            raise Unsupported(f"Resizing({flag}=True)")
    mode = str(a.get("interpolation")).lower()
    if mode not in _MODES:
        raise Unsupported(f"Resizing(interpolation={mode!r})")
    _forward_sizes(a, ctx, "Resizing")
    h, w = a.value("height"), a.value("width")  # the source's expressions are kept
    return Built(out=(h, w, shape[-1]), layout="cf", forward=(
        f"F.interpolate({{x}}, size=({a.code('height')}, {a.code('width')}), {_MODES[mode]})"))


def _center_crop(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    shape = _image(a, ins, "CenterCrop")
    h, w = a.get("height"), a.get("width")
    H, W = shape[0], shape[1]  # noqa: N806
    if not isinstance(H, int) or not isinstance(W, int):
        raise Unsupported("CenterCrop needs the input's height and width at conversion time")
    if H < h or W < w:
        raise Unsupported("CenterCrop onto a larger size (Keras resizes first)")
    top, left = (H - h) // 2, (W - w) // 2
    return Built(out=(h, w, shape[-1]), layout="keras",
                 forward=f"{{x}}[:, {top}:{top + h}, {left}:{left + w}]")


def _random_flip(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    shape = _image(a, ins, "RandomFlip")
    a.get("seed")
    mode = a.get("mode")
    dims = {"horizontal": (2,), "vertical": (1,), "horizontal_and_vertical": (2, 1)}.get(mode)
    if dims is None:
        raise Unsupported(f"RandomFlip(mode={mode!r})")
    flipped = "{x}" + "".join(f".flip({d})" for d in dims)
    # Keras 3 draws one coin per image and applies every flip of the mode with it
    coin = "torch.rand({x}.size(0), 1, 1, 1, device={x}.device) <= 0.5"
    return Built(out=shape, layout="keras",
                 forward=f"torch.where({coin}, {flipped}, {{x}}) if self.training else {{x}}")


def _factor_pair(value: Any, name: str) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        return float(value), float(value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return float(value[0]), float(value[1])
    raise Unsupported(f"{name}(factor={value!r})")


def _random_contrast(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    shape = _image(a, ins, "RandomContrast")
    a.get("seed")
    lower, upper = _factor_pair(a.get("factor"), "RandomContrast")
    lo, hi = tuple(a.get("value_range"))
    # Keras: (x - mean) * f + mean with one f per image, clipped to value_range; lerp from
    # the per-image channel means to x by f is exactly that
    factor = (f"torch.empty({{x}}.size(0), 1, 1, 1, device={{x}}.device)"
              f".uniform_({1.0 - lower!r}, {1.0 + upper!r})")
    return Built(out=shape, layout="keras", forward=(
        f"torch.lerp({{x}}.mean(dim=(1, 2), keepdim=True), {{x}}, {factor}).clamp({lo}, {hi}) "
        "if self.training else {x}"))


def _random_crop(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    shape = _image(a, ins, "RandomCrop")
    a.get("seed")
    h, w = a.value("height"), a.value("width")
    H, W = shape[0], shape[1]  # noqa: N806
    if not (isinstance(H, int) and isinstance(W, int) and isinstance(h, int)
            and isinstance(w, int)):
        _forward_sizes(a, ctx, "RandomCrop")
        return _random_crop_at_run_time(a.code("height"), a.code("width"), shape)
    if H <= h or W <= w:
        raise Unsupported("RandomCrop onto a size not smaller than the input (Keras resizes)")
    # inference: Keras's centred window of the target aspect ratio, resized to the target
    ch = max(min(H, int(W * h / w)), 1)
    cw = max(min(W, int(H * w / h)), 1)
    top, left = (H - ch) // 2, (W - cw) // 2
    center = f"{{x}}[:, {top}:{top + ch}, {left}:{left + cw}]"
    if (ch, cw) != (h, w):
        center = (f"F.interpolate({center}.permute(0, 3, 1, 2), size=({h}, {w}), "
                  f"{_MODES['bilinear']}).permute(0, 2, 3, 1)")
    return Built(out=(h, w, shape[-1]), layout="keras", stmts=(
        "if self.training:  # one random window for the batch, as Keras draws it",
        f"    {{y}}_top = int(torch.randint(0, {H - h + 1}, ()))",
        f"    {{y}}_left = int(torch.randint(0, {W - w + 1}, ()))",
        f"    {{y}} = {{x}}[:, {{y}}_top:{{y}}_top + {h}, {{y}}_left:{{y}}_left + {w}]",
        "else:",
        f"    {{y}} = {center}",
    ))


def _random_crop_at_run_time(h: str, w: str, shape: Shape) -> Built:
    """RandomCrop where a size is known only at run time: Keras's windows computed there."""
    bilinear = _MODES["bilinear"]
    return Built(out=(h, w, shape[-1]), layout="keras", warnings=(
        "input size known only at run time: the crop window is computed there "
        "(an input smaller than the crop fails where Keras resizes)",), stmts=(
        "{y}_height, {y}_width = {x}.shape[1], {x}.shape[2]",
        "if self.training:  # one random window for the batch, as Keras draws it",
        f"    {{y}}_top = int(torch.randint(0, {{y}}_height - {h} + 1, ()))",
        f"    {{y}}_left = int(torch.randint(0, {{y}}_width - {w} + 1, ()))",
        f"    {{y}} = {{x}}[:, {{y}}_top:{{y}}_top + {h}, {{y}}_left:{{y}}_left + {w}]",
        "else:  # Keras's centred window of the target aspect ratio, resized to the target",
        f"    {{y}}_ch = max(min({{y}}_height, int({{y}}_width * {h} / {w})), 1)",
        f"    {{y}}_cw = max(min({{y}}_width, int({{y}}_height * {w} / {h})), 1)",
        "    {y}_top, {y}_left = ({y}_height - {y}_ch) // 2, ({y}_width - {y}_cw) // 2",
        "    {y} = F.interpolate({x}[:, {y}_top:{y}_top + {y}_ch, {y}_left:{y}_left + {y}_cw]"
        f".permute(0, 3, 1, 2), size=({h}, {w}), {bilinear}).permute(0, 2, 3, 1)",
    ))


def _affine(cls: str, factors: tuple[str, ...]) -> Callable[
        [Args, Sequence[Shape], BuildContext], Built]:
    """RandomRotation/Zoom/Translation → a runtime module (one transform per image while
    training, identity in eval), Keras's argument semantics kept."""
    def build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
        shape = _image(a, ins, cls)
        fill, mode = a.get("fill_mode"), a.get("interpolation")
        if fill not in ("reflect", "wrap", "nearest", "constant"):
            raise Unsupported(f"{cls}(fill_mode={fill!r})")
        if mode not in ("bilinear", "nearest"):
            raise Unsupported(f"{cls}(interpolation={mode!r})")
        args = [a.code(f) for f in factors if a.has(f)]
        args += [f"{k}={a.code(k)}" for k in ("fill_mode", "interpolation", "seed",
                                               "fill_value") if a.has(k)]
        name = {"RandomRotation": "RandomImageRotation", "RandomZoom": "RandomImageZoom",
                "RandomTranslation": "RandomImageTranslation"}[cls]
        return Built(out=shape, layout="keras", forward="{m}({x})",
                     modules=(("", f"{name}({', '.join(args)})"),),
                     warnings=("random augmentation: Keras's random draws are not "
                               "reproduced (identity at inference, as Keras)",))
    return build


_AFFINE_DEFAULTS = {"fill_mode": "reflect", "interpolation": "bilinear", "seed": None,
                    "fill_value": 0.0, "data_format": None}

_IMAGE = ("name", "dtype", "trainable", "input_shape", "batch_input_shape", "batch_size",
          "data_format")

SPECS: tuple[LayerSpec, ...] = (
    LayerSpec("Resizing", ("height", "width", "interpolation", "crop_to_aspect_ratio"),
              {"interpolation": "bilinear", "crop_to_aspect_ratio": False,
               "pad_to_aspect_ratio": False, "antialias": False, "data_format": None},
              _resizing, torch=("torch.nn.functional.interpolate",),
              torch_kwargs={"torch.nn.functional.interpolate": ("size", "mode",
                                                                "align_corners")},
              examples=(Example("layers.Resizing(8, 6)", (5, 4, 3),
                                ("F.interpolate(", "size=(8, 6)", 'mode="bilinear"')),
                        Example('layers.Resizing(3, 7, interpolation="nearest")', (6, 5, 2),
                                ('mode="nearest-exact"',)))),
    LayerSpec("CenterCrop", ("height", "width"), {"data_format": None}, _center_crop,
              examples=(Example("layers.CenterCrop(4, 4)", (6, 8, 2), ("[:, 1:5, 2:6]",)),)),
    LayerSpec("RandomFlip", ("mode", "seed"), {"mode": "horizontal_and_vertical",
                                               "seed": None, "data_format": None},
              _random_flip, torch=("torch.rand", "torch.where"), ignorable=_IMAGE,
              examples=(Example("layers.RandomFlip()", (4, 5, 3),
                                ("if self.training else", ".flip(2).flip(1)")),
                        Example('layers.RandomFlip("horizontal")', (4, 5, 3),
                                (".flip(2)",), forbid=(".flip(1)",)))),
    LayerSpec("RandomContrast", ("factor", "value_range", "seed"),
              {"value_range": (0, 255), "seed": None, "data_format": None},
              _random_contrast, torch=("torch.empty", "torch.lerp"), ignorable=_IMAGE,
              examples=(Example("layers.RandomContrast(0.2)", (4, 5, 3),
                                (".uniform_(0.8, 1.2)", ".clamp(0, 255)")),)),
    LayerSpec("RandomCrop", ("height", "width", "seed"), {"seed": None, "data_format": None},
              _random_crop, torch=("torch.randint",), ignorable=_IMAGE,
              examples=(Example("layers.RandomCrop(4, 4)", (6, 8, 3),
                                ("torch.randint(0, 3, ())", "F.interpolate("),
                                # Keras 3.15 on torch returns the top-left window at
                                # inference; TF's Keras the centred one, as here
                                equivalence=False),
                        Example("layers.RandomCrop(3, 4)", (6, 8, 3),
                                ("[:, 0:6, 0:8]",), equivalence=False))),
    LayerSpec("RandomRotation", ("factor", "fill_mode", "interpolation", "seed", "fill_value"),
              _AFFINE_DEFAULTS, _affine("RandomRotation", ("factor",)), ignorable=_IMAGE,
              examples=(Example("layers.RandomRotation(0.1)", (6, 5, 3),
                                ("RandomImageRotation(0.1)",)),)),
    LayerSpec("RandomZoom", ("height_factor", "width_factor", "fill_mode", "interpolation",
                             "seed", "fill_value"),
              {**_AFFINE_DEFAULTS, "width_factor": None},
              _affine("RandomZoom", ("height_factor", "width_factor")), ignorable=_IMAGE,
              examples=(Example('layers.RandomZoom(0.2, fill_mode="constant")', (6, 5, 3),
                                ('RandomImageZoom(0.2, fill_mode="constant")',)),)),
    LayerSpec("RandomTranslation", ("height_factor", "width_factor", "fill_mode",
                                    "interpolation", "seed", "fill_value"),
              _AFFINE_DEFAULTS,
              _affine("RandomTranslation", ("height_factor", "width_factor")),
              ignorable=_IMAGE,
              examples=(Example("layers.RandomTranslation(0.1, (-0.2, 0.3))", (6, 5, 3),
                                ("RandomImageTranslation(0.1, (-0.2, 0.3))",)),)),
)
