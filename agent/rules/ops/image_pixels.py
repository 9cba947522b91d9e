"""Op rows for ``tf.image`` ops computed from pixel values: ``psnr``, ``ssim``,
``image_gradients``, the HSV colour adjustments (saturation, hue) and patch extraction
(``tf.image.extract_patches``, ``keras.ops.image.extract_patches``).

Each row calls a function of ``agent/rules/training/runtime/image_pixels.py`` (copied into the
converted script by utilities.py): TF's dtype rules (integer images read as fractions of their
maximum, the input's dtype returned) and SSIM's Gaussian window do not fit one expression.
Arguments TF requires are passed positionally in TF's order; ``ssim``'s window settings keep
their names, and ``return_index_map=True`` (a per-pixel map) is reported.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from agent.rules.ops.spec import Bound, Op, emit, node_code

IMG = "tensorflow.image"

ROWS: list[tuple[list[str], Op]] = []


def _call(names: list[str], function: str, params: tuple[str, ...], pos: int,
          fixed: dict[str, str] | None = None,
          examples: tuple[tuple[str, str], ...] = ()) -> None:
    inner = Op(function, (*params, *(fixed or {})), pos=pos, fixed=fixed or {})

    def handler(b: Bound) -> str:
        return emit(inner, b)

    ROWS.append((names, Op("", inner.params, pos=pos, handler=handler, examples=examples)))


_call([f"{IMG}.psnr"], "image_psnr", ("a", "b", "max_val"), pos=3,
      examples=(("tf.image.psnr(x, y, max_val=1.0)", "image_psnr(x, y, 1.0)"),))
_call([f"{IMG}.ssim"], "image_ssim",
      ("img1", "img2", "max_val", "filter_size", "filter_sigma", "k1", "k2"), pos=3,
      fixed={"return_index_map": "False"},
      examples=(("tf.image.ssim(x, y, 255.0, filter_size=7)",
                 "image_ssim(x, y, 255.0, filter_size=7)"),))
_call([f"{IMG}.image_gradients"], "image_gradients", ("image",), pos=1,
      examples=(("tf.image.image_gradients(x)", "image_gradients(x)"),))
_call([f"{IMG}.rgb_to_hsv"], "image_rgb_to_hsv", ("images",), pos=1)
_call([f"{IMG}.hsv_to_rgb"], "image_hsv_to_rgb", ("images",), pos=1)
_call([f"{IMG}.adjust_saturation"], "image_adjust_saturation",
      ("image", "saturation_factor"), pos=2)
_call([f"{IMG}.adjust_hue"], "image_adjust_hue", ("image", "delta"), pos=2)
_call([f"{IMG}.random_saturation"], "image_random_saturation",
      ("image", "lower", "upper", "seed"), pos=3,
      examples=(("tf.image.random_saturation(x, 0.5, 1.5)",
                 "image_random_saturation(x, 0.5, 1.5)"),))
_call([f"{IMG}.random_hue"], "image_random_hue", ("image", "max_delta", "seed"), pos=2,
      examples=(("tf.image.random_hue(x, max_delta=0.1)", "image_random_hue(x, 0.1)"),))



def _window(b: Bound, name: str) -> str:
    """TF's ``[1, rows, cols, 1]`` written as Keras 3 writes it: ``rows`` (square) or
    ``(rows, cols)``; any other expression is passed on (the function reads TF's form)."""
    node = b.nodes.get(name)
    if isinstance(node, (cst.List, cst.Tuple)) and len(node.elements) == 4:
        rows, cols = (node_code(node.elements[k].value) for k in (1, 2))
        return rows if rows == cols else f"({rows}, {cols})"
    return b.code(name)


def _tf_patches(sizes: str) -> Callable[[Bound], str]:
    """``tf.image.extract_patches`` (``extract_image_patches``: ``ksizes``) → the Keras 3
    signature of the runtime function; TF requires every argument."""
    def handler(b: Bound) -> str:
        args = [b.code("images"), _window(b, sizes), _window(b, "strides")]
        if _window(b, "rates") != "1":
            args.append(f"dilation_rate={_window(b, 'rates')}")
        if b.lit("padding") != "VALID":
            args.append(f"padding={b.code('padding')}")
        return f"image_extract_patches({', '.join(args)})"
    return handler


for _sizes, _name in (("sizes", "extract_patches"), ("ksizes", "extract_image_patches")):
    ROWS.append(([f"{IMG}.{_name}"], Op(
        "", ("images", _sizes, "strides", "rates", "padding"), pos=5,
        handler=_tf_patches(_sizes),
        examples=(("tf.image.extract_patches(x, [1, 4, 4, 1], [1, 4, 4, 1], [1, 1, 1, 1], "
                   "'VALID')", "image_extract_patches(x, 4, 4)"),) if _sizes == "sizes" else ())))
_call(["keras.ops.image.extract_patches"], "image_extract_patches",
      ("images", "size", "strides", "dilation_rate", "padding"), pos=2,
      fixed={"data_format": "None"},
      examples=(("keras.ops.image.extract_patches(x, size=16)",
                 "image_extract_patches(x, 16)"),))
