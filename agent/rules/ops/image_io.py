"""Op rows for ``tf.io`` file reading and image decoding, ``tf.image`` transforms,
``tf.audio.decode_wav`` and (for tf.data map functions only) ``tf.strings``.

Most rows call a function of ``agent/rules/training/runtime/image_ops.py`` (copied into the
converted script by utilities.py): TF's dtype rules (decoded images are HWC uint8, ``resize``
returns float32, ``convert_image_dtype`` scales integers) and rank 3 or 4 inputs do not fit
one torch expression. Flips and box crops index the H and W axes from the end, inline.
``PIPELINE_OPS`` are kept out of the general table and used in tf.data map functions only:
``tf.strings`` rows are right on the Python strings a converted pipeline carries, but a
``TextVectorization(standardize=fn)`` that stays Keras would call them on TF tensors;
``tf.random.gamma`` (mixup/cutmix's Beta draws) waits there for a row in the general table.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.rules.ops.spec import Bound, Op, atom, emit, literal
from agent.rules.spec import Unsupported

IO, IMG, AUDIO, STR = "tensorflow.io", "tensorflow.image", "tensorflow.audio", "tensorflow.strings"

ROWS: list[tuple[list[str], Op]] = []
PIPELINE_OPS: dict[str, Op] = {}

# tf.image.ResizeMethod.X used as a value: TF's own string for the method
CONSTANTS: dict[str, str] = {
    f"{IMG}.ResizeMethod.{name}": f'"{value}"' for name, value in (
        ("BILINEAR", "bilinear"), ("NEAREST_NEIGHBOR", "nearest"), ("BICUBIC", "bicubic"),
        ("AREA", "area"), ("LANCZOS3", "lanczos3"), ("LANCZOS5", "lanczos5"),
        ("GAUSSIAN", "gaussian"), ("MITCHELLCUBIC", "mitchellcubic"))}


def _helper(function: str, params: tuple[str, ...], pos: int,
            fixed: dict[str, str] | None = None,
            before: Callable[[Bound], None] | None = None) -> Callable[[Bound], str]:
    """A call of the runtime ``function`` with the TF arguments given, by TF name."""
    inner = Op(function, (*params, *(fixed or {})), pos=pos, fixed=fixed or {})

    def handler(b: Bound) -> str:
        if before is not None:
            before(b)
        return emit(inner, b)

    return handler


def _row(names: list[str], function: str, params: tuple[str, ...], pos: int = 1,
         fixed: dict[str, str] | None = None, before: Callable[[Bound], None] | None = None,
         ignored: tuple[str, ...] = (), examples: tuple[tuple[str, str], ...] = ()) -> None:
    """``pos``: the arguments TF requires (passed positionally, in TF's order); ``ignored``:
    TF arguments that do not change the result (dropped)."""
    def drop(b: Bound) -> None:
        for name in ignored:
            b.args.pop(name, None)
        if before is not None:
            before(b)

    ROWS.append((names, Op("", (*params, *(fixed or {}), *ignored), pos=pos, examples=examples,
                           handler=_helper(function, params, pos, fixed, drop))))


# ---------------------------------------------------------------------------- files
_row([f"{IO}.read_file", "tensorflow.read_file"], "image_read_file", ("filename",),
     examples=(("tf.io.read_file(path)", "image_read_file(path)"),))
_row([f"{IO}.decode_image", f"{IMG}.decode_image"], "image_decode",
     ("contents", "channels", "dtype", "expand_animations"),
     examples=(("tf.io.decode_image(data, channels=3)", "image_decode(data, channels=3)"),))
_row([f"{IO}.decode_png", f"{IMG}.decode_png"], "image_decode", ("contents", "channels", "dtype"))
_row([f"{IO}.decode_jpeg", f"{IMG}.decode_jpeg"], "image_decode", ("contents", "channels"),
     fixed={"ratio": "1", "fancy_upscaling": "True", "try_recover_truncated": "False",
            "acceptable_fraction": "1"},
     ignored=("dct_method",),  # the IDCT's rounding only (Pillow: libjpeg's accurate one)
     examples=(("tf.image.decode_jpeg(data, channels=1)", "image_decode(data, channels=1)"),))
_row([f"{IO}.decode_bmp", f"{IMG}.decode_bmp"], "image_decode", ("contents", "channels"))
_row([f"{IO}.decode_gif", f"{IMG}.decode_gif"], "image_decode", ("contents",))
_row([f"{IO}.encode_jpeg", f"{IMG}.encode_jpeg"], "image_encode_jpeg",
     ("image", "quality", "progressive", "chroma_downsampling", "x_density", "y_density"),
     fixed={"format": "''", "optimize_size": "False", "density_unit": "'in'",
            "xmp_metadata": "''"},
     examples=(("tf.io.encode_jpeg(image)", "image_encode_jpeg(image)"),))
_row([f"{IO}.encode_png", f"{IMG}.encode_png"], "image_encode_png", ("image",),
     ignored=("compression",))  # the zlib level: the same pixels
_row([f"{AUDIO}.decode_wav"], "audio_decode_wav",
     ("contents", "desired_channels", "desired_samples"))


# ---------------------------------------------------------------------------- images
def _method(b: Bound) -> None:
    if b.has("method"):
        mode = str(literal(b, "method")).lower().replace("resizemethod.", "")
        if mode not in ("bilinear", "nearest", "bicubic"):  # bicubic: TF's kernel, runtime
            raise Unsupported(f"{b.op}(method={b.code('method')})")  # area/lanczos: none
        b.args["method"] = f'"{mode}"'
        if mode == "bilinear":
            del b.args["method"]  # the function's default
    if not b.is_default("antialias", "False"):
        raise Unsupported(f"{b.op}(antialias=True): TF's kernel differs from torch's")


_row([f"{IMG}.resize"], "image_resize",
     ("images", "size", "method", "preserve_aspect_ratio", "antialias"), pos=2,
     before=_method,
     examples=(("tf.image.resize(x, (8, 8))", "image_resize(x, (8, 8))"),
               ("tf.image.resize(x, (8, 8), preserve_aspect_ratio=True)",
                "image_resize(x, (8, 8), preserve_aspect_ratio=True)"),
               ("tf.image.resize(x, [4, 6], method='nearest')",
                'image_resize(x, [4, 6], method="nearest")')))
_row([f"{IMG}.convert_image_dtype"], "image_convert_dtype", ("image", "dtype", "saturate"),
     pos=2, examples=(("tf.image.convert_image_dtype(x, tf.float32)",
                       "image_convert_dtype(x, torch.float32)"),))
_row([f"{IMG}.rgb_to_grayscale"], "image_grayscale", ("images",))
_row([f"{IMG}.grayscale_to_rgb"], "image_gray_to_rgb", ("images",))
_row([f"{IMG}.per_image_standardization"], "image_standardize", ("image",))
_row([f"{IMG}.pad_to_bounding_box"], "image_pad_to_box",
     ("image", "offset_height", "offset_width", "target_height", "target_width"), pos=5)
_row([f"{IMG}.resize_with_crop_or_pad"], "image_crop_or_pad",
     ("image", "target_height", "target_width"), pos=3)
_row([f"{IMG}.central_crop"], "image_central_crop", ("image", "central_fraction"), pos=2)
_row([f"{IMG}.adjust_brightness"], "image_adjust_brightness", ("image", "delta"), pos=2)
_row([f"{IMG}.adjust_contrast"], "image_adjust_contrast", ("images", "contrast_factor"), pos=2)
_row([f"{IMG}.random_crop"], "image_random_crop", ("value", "size", "seed"), pos=2)
_row([f"{IMG}.random_brightness"], "image_random_brightness", ("image", "max_delta", "seed"),
     pos=2)
_row([f"{IMG}.random_contrast"], "image_random_contrast", ("image", "lower", "upper", "seed"),
     pos=3)


def _random_flip(axis: int) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        seed = f", seed={b.code('seed')}" if not b.is_default("seed", "None") else ""
        return f"image_random_flip({b.code('image')}, {axis}{seed})"

    return handler


ROWS.append(([f"{IMG}.random_flip_left_right"], Op(
    "", ("image", "seed"), handler=_random_flip(-2),
    examples=(("tf.image.random_flip_left_right(x)", "image_random_flip(x, -2)"),))))
ROWS.append(([f"{IMG}.random_flip_up_down"], Op("", ("image", "seed"),
                                                handler=_random_flip(-3))))


def _flip(axis: int) -> Callable[[Bound], str]:
    return lambda b: f"torch.flip({b.code('image')}, dims=({axis},))"


ROWS.append(([f"{IMG}.flip_left_right"], Op("", ("image",), handler=_flip(-2), examples=(
    ("tf.image.flip_left_right(x)", "torch.flip(x, dims=(-2,))"),))))
ROWS.append(([f"{IMG}.flip_up_down"], Op("", ("image",), handler=_flip(-3))))
ROWS.append(([f"{IMG}.transpose"], Op("", ("image",), handler=lambda b: (
    f"torch.transpose({b.code('image')}, -3, -2)"))))


def _crop_box(b: Bound) -> str:
    x = atom(b.code("image"))
    top, left = b.code("offset_height"), b.code("offset_width")
    h, w = b.code("target_height"), b.code("target_width")
    return f"{x}[..., {top}:{atom(top)} + {atom(h)}, {left}:{atom(left)} + {atom(w)}, :]"


ROWS.append(([f"{IMG}.crop_to_bounding_box"], Op(
    "", ("image", "offset_height", "offset_width", "target_height", "target_width"), pos=5,
    handler=_crop_box)))


# ---------------------------------------------------------------------------- strings
def _string(names: list[str], function: str, params: tuple[str, ...], pos: int = 1,
            fixed: dict[str, str] | None = None) -> None:
    op = Op("", (*params, *(fixed or {})), pos=pos,
            handler=_helper(function, params, pos, fixed))
    for name in names:
        PIPELINE_OPS[name] = op


_string([f"{STR}.lower"], "strings_lower", ("input",), fixed={"encoding": "''"})
_string([f"{STR}.upper"], "strings_upper", ("input",), fixed={"encoding": "''"})
_string([f"{STR}.strip"], "strings_strip", ("input",))
_string([f"{STR}.regex_replace"], "strings_regex_replace",
        ("input", "pattern", "rewrite", "replace_global"), pos=3)
_string([f"{STR}.split"], "strings_split", ("input", "sep", "maxsplit"))
_string([f"{STR}.unicode_split"], "strings_unicode_split", ("input", "input_encoding"), pos=2,
        fixed={"errors": '"replace"'})
_string([f"{STR}.reduce_join"], "strings_reduce_join",
        ("inputs", "axis", "keepdims", "separator"))
_string([f"{STR}.join"], "strings_join", ("inputs", "separator"))
_string([f"{STR}.to_number"], "strings_to_number", ("string_tensor", "out_type"))
_string([f"{STR}.length"], "strings_length", ("input",), fixed={"unit": '"BYTE"'})
_string([f"{STR}.substr"], "strings_substr", ("input", "pos", "len", "unit"), pos=3)
_string([f"{STR}.as_string"], "strings_as_string",
        ("input", "precision", "scientific", "shortest", "width", "fill"))


def _gamma(b: Bound) -> str:
    """TF: shape + alpha's shape, beta the inverse scale (torch's rate), float32."""
    if not b.is_default("dtype", "None") and b.code("dtype") != "torch.float32":
        raise Unsupported(f"{b.op}(dtype={b.code('dtype')})")
    alpha = f"torch.as_tensor({b.code('alpha')}, dtype=torch.float32)"
    beta = f"torch.as_tensor({b.code('beta', '1.0')}, dtype=torch.float32)"
    return f"torch.distributions.Gamma({alpha}, {beta}).sample(tuple({b.code('shape')}))"


PIPELINE_OPS["tensorflow.random.gamma"] = Op("", ("shape", "alpha", "beta", "dtype", "seed"),
                                             pos=2, handler=_gamma)
# a VarLenFeature parses to its values (runtime/image_ops.py), dense already: the 1-D
# SparseTensor TF makes of them has no gaps, so to_dense gives the same values
PIPELINE_OPS["tensorflow.sparse.to_dense"] = Op(
    "", ("sp_input", "default_value", "validate_indices"),
    handler=lambda b: b.code("sp_input"))
