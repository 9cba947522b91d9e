"""``tf.io`` / ``tf.image`` / ``tf.audio`` / ``tf.strings`` in torch, copied into a converted
script whose functions used them (the op rows of agent/rules/ops/image_io.py write the calls).

Images are channels-last (HWC, or NHWC for a batch) like TF's, uint8 as decoded; each
function keeps TF's dtype rules (``resize`` returns float32, ``convert_image_dtype`` scales
integers into [0, 1]). Decoding reads the bytes with Pillow, which the converted script then
needs instead of TensorFlow. Random ops draw from torch's generator (a seeded
``torch.Generator`` per op seed): the same distributions as TF, not the same stream.
Strings are Python ``str`` (NumPy string arrays once batched), as the converted pipelines
carry them. No ``__future__`` import: the functions are inlined into scripts.
"""

import io
import wave
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from .data_pipeline import DataPipeline
from .ragged import RaggedRows
from .re2_patterns import re2_compile, re2_sub

_IMAGE_GENERATORS: dict[int, torch.Generator] = {}


def _local(path: Any) -> str:
    """A local path; TF's remote file systems (gs://, s3://, hdfs://) are not here."""
    text = path.decode("utf-8") if isinstance(path, bytes) else str(path)
    if "://" in text:
        raise OSError(f"{text}: a remote path needs TensorFlow's file systems; copy it locally")
    return text


def image_read_file(filename: Any) -> bytes:
    """tf.io.read_file: the file's bytes (TF: a scalar string tensor)."""
    with open(_local(filename), "rb") as f:
        return f.read()


def image_decode(contents: Any, channels: Any = None, dtype: Any = torch.uint8,
                 expand_animations: bool = True) -> torch.Tensor:
    """tf.io.decode_image / decode_png / decode_jpeg / decode_bmp / decode_gif: HWC uint8.

    channels 0/None keeps the file's; 1 is the decoder's grey (a JPEG's Y plane, libpng's
    fixed-point weights for colour PNGs), 3 RGB, 4 RGBA. JPEG: Pillow's IDCT is libjpeg's
    accurate one (TF's ``dct_method="INTEGER_ACCURATE"``; TF's default, the fast one, differs
    by a few levels). A GIF decodes to its frames (N, H, W, 3), as TF's decode_gif
    (the first frame alone with expand_animations=False).
    """
    from PIL import Image, ImageSequence

    data = contents if isinstance(contents, (bytes, bytearray)) else bytes(contents)
    img: Any = Image.open(io.BytesIO(data))
    wanted = int(channels or 0)
    if img.format == "GIF":
        frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(img)]
        gif = torch.from_numpy(np.stack(frames) if expand_animations else frames[0])
        return image_convert_dtype(gif, dtype)
    if wanted == 1 and img.format == "JPEG":
        img.draft("L", img.size)  # decode the luma plane directly, as libjpeg does for TF
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.mode else "RGB")
    if wanted in (1, 2) and img.mode in ("RGB", "RGBA"):  # libpng's grey, as TF's decoder
        rgb = np.asarray(img.convert("RGB"), dtype=np.int64)
        gray = (rgb @ np.array([9797, 19234, 3737])) >> 15
        planes = [gray] + ([np.asarray(img.getchannel("A")) if img.mode == "RGBA"
                            else np.full_like(gray, 255)] if wanted == 2 else [])
        array = np.stack(planes, axis=-1).astype(np.uint8)
    else:
        modes = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
        if wanted and img.mode != modes[wanted]:
            img = img.convert(modes[wanted])
        array = np.asarray(img, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return image_convert_dtype(torch.from_numpy(array.copy()), dtype)


def image_encode_jpeg(image: Any, quality: int = 95, progressive: bool = False,
                      chroma_downsampling: bool = True, x_density: int = 300,
                      y_density: int = 300) -> bytes:
    """tf.io.encode_jpeg: an HWC uint8 image's JPEG bytes (Pillow's libjpeg: the pixels
    decode as close as two libjpeg builds give, the bytes are not TF's)."""
    out = io.BytesIO()
    _pil_image(image, "jpeg").save(out, "JPEG", quality=int(quality),
                                   progressive=bool(progressive),
                                   subsampling=2 if chroma_downsampling else 0,
                                   dpi=(x_density, y_density))
    return out.getvalue()


def image_encode_png(image: Any) -> bytes:
    """tf.io.encode_png: an HWC uint8 image's PNG bytes (the same pixels decode back)."""
    out = io.BytesIO()
    _pil_image(image, "png").save(out, "PNG")
    return out.getvalue()


def _pil_image(image: Any, kind: str) -> Any:
    from PIL import Image

    array = np.asarray(image.numpy() if isinstance(image, torch.Tensor) else image)
    if array.dtype != np.uint8:
        raise TypeError(f"encode_{kind}: uint8 images only (TF), not {array.dtype}")
    return Image.fromarray(array[:, :, 0] if array.shape[-1] == 1 else array)


def image_convert_dtype(image: Any, dtype: Any, saturate: bool = False) -> torch.Tensor:
    """tf.image.convert_image_dtype: integers are read as fractions of their maximum."""
    x = torch.as_tensor(image)
    if x.dtype == dtype:
        return x
    if x.dtype.is_floating_point and dtype.is_floating_point:
        return x.to(dtype)
    if not x.dtype.is_floating_point and dtype.is_floating_point:
        return x.to(dtype) * (1.0 / torch.iinfo(x.dtype).max)
    if x.dtype.is_floating_point:  # float -> int: scale by max + 0.5, then truncate
        top = torch.iinfo(dtype).max
        scaled = x * (top + 0.5)
        if saturate:
            scaled = torch.clamp(scaled, torch.iinfo(dtype).min, top)
        return scaled.to(dtype)
    ratio = (torch.iinfo(x.dtype).max + 1) // (torch.iinfo(dtype).max + 1)
    if ratio >= 1:  # a wider int to a narrower one: drop the low bits
        return torch.div(x, ratio, rounding_mode="floor").to(dtype)
    widen = (torch.iinfo(dtype).max + 1) // (torch.iinfo(x.dtype).max + 1)
    return x.to(dtype) * widen


def image_resize(images: Any, size: Any, method: str = "bilinear",
                 preserve_aspect_ratio: bool = False, antialias: bool = False) -> torch.Tensor:
    """tf.image.resize: rank 3 or 4, half-pixel centres; float32 except ``nearest``.
    ``preserve_aspect_ratio``: the largest size within ``size`` of the image's proportions,
    each side rounded (half to even) from TF's float32 product."""
    x = torch.as_tensor(images)
    batch = x.dim() == 4
    x = (x if batch else x[None]).permute(0, 3, 1, 2)
    hw = (int(size[0]), int(size[1]))
    if preserve_aspect_ratio:
        h, w = np.float32(x.shape[2]), np.float32(x.shape[3])
        scale = min(np.float32(hw[0]) / h, np.float32(hw[1]) / w)
        hw = (int(np.round(scale * h)), int(np.round(scale * w)))
    if method == "nearest":
        out = F.interpolate(x, size=hw, mode="nearest-exact")
    elif method == "bicubic":  # TF's kernel (Keys a = -0.5), not torch's (a = -0.75)
        flt = x.to(torch.float32)
        rows, cols = _bicubic_weights(x.shape[2], hw[0]), _bicubic_weights(x.shape[3], hw[1])
        out = torch.einsum("nchw,Hh,Ww->ncHW", flt, rows.to(flt.device), cols.to(flt.device))
    else:
        out = F.interpolate(x.to(torch.float32), size=hw, mode=method, align_corners=False,
                            antialias=antialias)
    out = out.permute(0, 2, 3, 1)
    return out if batch else out[0]


def _bicubic_weights(size_in: int, size_out: int) -> torch.Tensor:
    """(size_out, size_in) weights of TF's half-pixel bicubic resize: Keys' cubic with
    a = -0.5 at offsets quantised to 1/1024 (TF's coefficient table); taps outside the image
    get weight 0 and the rest are renormalised to sum 1."""
    a = -0.5
    where = (torch.arange(size_out, dtype=torch.float64) + 0.5) * (size_in / size_out) - 0.5
    base = torch.floor(where)
    t = torch.round((where - base) * 1024) / 1024

    def near(d: torch.Tensor) -> torch.Tensor:  # |d| < 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d: torch.Tensor) -> torch.Tensor:  # 1 <= |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    taps = [(base - 1, far(t + 1)), (base, near(t)), (base + 1, near(1 - t)),
            (base + 2, far(2 - t))]
    weights = torch.zeros(size_out, size_in, dtype=torch.float64)
    rows = torch.arange(size_out)
    for index, w in taps:
        inside = (index >= 0) & (index < size_in)
        weights[rows[inside], index[inside].long()] += w[inside]
    return (weights / weights.sum(dim=1, keepdim=True)).to(torch.float32)


def image_grayscale(images: Any) -> torch.Tensor:
    """tf.image.rgb_to_grayscale: ITU-R 601 weights, computed in float, input dtype kept."""
    x = torch.as_tensor(images)
    flt = image_convert_dtype(x, torch.float32)
    weights = torch.tensor([0.2989, 0.5870, 0.1140], dtype=torch.float32)
    gray = torch.tensordot(flt, weights, dims=([-1], [0]))[..., None]
    return image_convert_dtype(gray, x.dtype)


def image_gray_to_rgb(images: Any) -> torch.Tensor:
    """tf.image.grayscale_to_rgb: the one channel three times."""
    x = torch.as_tensor(images)
    return torch.cat([x, x, x], dim=-1)


def image_standardize(image: Any) -> torch.Tensor:
    """tf.image.per_image_standardization: (x - mean) / max(std, 1/sqrt(N)) per image."""
    x = torch.as_tensor(image).to(torch.float32)
    dims = (-3, -2, -1)
    n = x.shape[-3] * x.shape[-2] * x.shape[-1]
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True, correction=0)
    return (x - mean) / torch.clamp(std, min=1.0 / float(n) ** 0.5)


def image_pad_to_box(image: Any, offset_height: int, offset_width: int, target_height: int,
                     target_width: int) -> torch.Tensor:
    """tf.image.pad_to_bounding_box: zeros above/left by the offsets, up to the target."""
    x = torch.as_tensor(image)
    top, left = int(offset_height), int(offset_width)  # TF takes scalar tensors too
    h, w = x.shape[-3], x.shape[-2]
    bottom, right = int(target_height) - top - h, int(target_width) - left - w
    if min(top, left, bottom, right) < 0:
        raise ValueError("pad_to_bounding_box: the image does not fit the target")
    return F.pad(x, (0, 0, left, right, top, bottom))


def image_crop_or_pad(image: Any, target_height: int, target_width: int) -> torch.Tensor:
    """tf.image.resize_with_crop_or_pad: centred crop, then centred zero padding."""
    x = torch.as_tensor(image)
    h, w = x.shape[-3], x.shape[-2]
    top, left = max((h - target_height) // 2, 0), max((w - target_width) // 2, 0)
    x = x[..., top:top + min(h, target_height), left:left + min(w, target_width), :]
    pad_top, pad_left = max((target_height - h) // 2, 0), max((target_width - w) // 2, 0)
    return image_pad_to_box(x, pad_top, pad_left, target_height, target_width)


def image_central_crop(image: Any, central_fraction: float) -> torch.Tensor:
    """tf.image.central_crop: TF's own rounding of the start offsets."""
    x = torch.as_tensor(image)
    if central_fraction == 1.0:
        return x
    h, w = x.shape[-3], x.shape[-2]
    top = int((h - h * central_fraction) / 2)
    left = int((w - w * central_fraction) / 2)
    return x[..., top:h - top, left:w - left, :]


def _image_generator(seed: Any) -> torch.Generator | None:
    if seed is None:
        return None
    key = int(seed)
    if key not in _IMAGE_GENERATORS:
        _IMAGE_GENERATORS[key] = torch.Generator().manual_seed(key)
    return _IMAGE_GENERATORS[key]


def image_random_flip(image: Any, axis: int, seed: Any = None) -> torch.Tensor:
    """tf.image.random_flip_left_right (axis -2) / _up_down (axis -3): each image of a
    batch flipped with probability 1/2 on its own, as TF does."""
    x = torch.as_tensor(image)
    if x.dim() == 3:
        flip = bool(torch.rand((), generator=_image_generator(seed)) < 0.5)
        return torch.flip(x, dims=(axis,)) if flip else x
    mask = torch.rand((x.shape[0], 1, 1, 1), generator=_image_generator(seed)) < 0.5
    return torch.where(mask, torch.flip(x, dims=(axis,)), x)


def image_random_crop(value: Any, size: Any, seed: Any = None) -> torch.Tensor:
    """tf.image.random_crop: a uniform offset along every axis (``size`` has value's rank)."""
    x = torch.as_tensor(value)
    sizes = [int(s) for s in size]
    gen = _image_generator(seed)
    index = []
    for dim, want in zip(x.shape, sizes, strict=True):
        start = int(torch.randint(0, dim - want + 1, (), generator=gen))
        index.append(slice(start, start + want))
    return x[tuple(index)]


def image_adjust_brightness(image: Any, delta: float) -> torch.Tensor:
    """tf.image.adjust_brightness: ``delta`` added in float, integers saturated back."""
    x = torch.as_tensor(image)
    flt = x if x.dtype.is_floating_point else image_convert_dtype(x, torch.float32)
    return image_convert_dtype(flt + delta, x.dtype, saturate=True)


def image_adjust_contrast(images: Any, contrast_factor: float) -> torch.Tensor:
    """tf.image.adjust_contrast: (x - mean) * factor + mean, mean per image and channel."""
    x = torch.as_tensor(images)
    flt = x if x.dtype.is_floating_point else image_convert_dtype(x, torch.float32)
    mean = flt.mean(dim=(-3, -2), keepdim=True)
    return image_convert_dtype((flt - mean) * contrast_factor + mean, x.dtype, saturate=True)


def image_random_brightness(image: Any, max_delta: float, seed: Any = None) -> torch.Tensor:
    """tf.image.random_brightness: one delta in [-max_delta, max_delta)."""
    delta = float(torch.rand((), generator=_image_generator(seed))) * 2 * max_delta - max_delta
    return image_adjust_brightness(image, delta)


def image_random_contrast(image: Any, lower: float, upper: float, seed: Any = None
                          ) -> torch.Tensor:
    """tf.image.random_contrast: one factor in [lower, upper)."""
    factor = lower + float(torch.rand((), generator=_image_generator(seed))) * (upper - lower)
    return image_adjust_contrast(image, factor)


def audio_decode_wav(contents: Any, desired_channels: int = -1, desired_samples: int = -1
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """tf.audio.decode_wav: 16-bit PCM as float32 in [-1, 1), (samples, channels), and the
    sample rate as an int32 scalar; desired_samples cuts or zero-pads, extra
    desired_channels repeat the last channel, as TF does."""
    with wave.open(io.BytesIO(bytes(contents)), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError("decode_wav: only 16-bit PCM is supported, as in TF")
        channels, rate = w.getnchannels(), w.getframerate()
        frames = w.readframes(w.getnframes())
    audio = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).astype(np.float32) / 32768.0
    if desired_channels > 0:
        audio = audio[:, [min(c, channels - 1) for c in range(desired_channels)]]
    if desired_samples > 0:
        padded = np.zeros((desired_samples, audio.shape[1]), dtype=np.float32)
        padded[:min(desired_samples, len(audio))] = audio[:desired_samples]
        audio = padded
    return torch.from_numpy(np.ascontiguousarray(audio)), torch.tensor(rate, dtype=torch.int32)


def _strings_apply(fn: Any, value: Any) -> Any:
    """One string, or each of an array of strings (a batch)."""
    if isinstance(value, (str, bytes)):
        return fn(value.decode("utf-8") if isinstance(value, bytes) else value)
    return np.vectorize(fn, otypes=[object])(np.asarray(value)).astype(str)


def strings_cast(x: Any) -> Any:
    """tf.cast(x, tf.string): strings stay as they are; TF has no cast from numbers."""
    if isinstance(x, (str, bytes)) or (isinstance(x, np.ndarray) and x.dtype.kind in "USO"):
        return x
    raise TypeError(f"Cast {getattr(x, 'dtype', type(x).__name__)} to string is not "
                    "supported (TF: tf.strings.as_string)")


def strings_lower(input: Any) -> Any:
    """tf.strings.lower (ASCII case, as TF's default encoding='')."""
    return _strings_apply(lambda s: s.translate(_ASCII_LOWER), input)


def strings_upper(input: Any) -> Any:
    """tf.strings.upper (ASCII case)."""
    return _strings_apply(lambda s: s.translate(_ASCII_UPPER), input)


def strings_strip(input: Any) -> Any:
    """tf.strings.strip: leading and trailing whitespace."""
    return _strings_apply(lambda s: s.strip(), input)


def strings_regex_replace(input: Any, pattern: str, rewrite: str,
                          replace_global: bool = True) -> Any:
    """tf.strings.regex_replace: RE2's pattern and rewrite meanings (runtime/re2_patterns.py)."""
    compiled = re2_compile(pattern)
    return _strings_apply(lambda s: re2_sub(compiled, rewrite, s, replace_global), input)


def _rows(fn: Any, input: Any) -> Any:
    """``fn`` of one string, or a RaggedRows of ``fn`` of each string of a vector."""
    if isinstance(input, (str, bytes)):
        return fn(input.decode("utf-8") if isinstance(input, bytes) else input)
    values = np.asarray(input, dtype=str)
    if values.ndim != 1:
        raise ValueError("a string or a vector of strings (TF: ragged rows per string)")
    return RaggedRows([fn(v) for v in values.tolist()])


def strings_split(input: Any, sep: Any = None, maxsplit: int = -1) -> Any:
    """tf.strings.split: a string's parts as a string array (None: runs of whitespace, as
    TF); a vector's as RaggedRows."""
    return _rows(lambda text: np.array(text.split(sep, maxsplit), dtype=str), input)


def strings_unicode_split(input: Any, input_encoding: str = "UTF-8") -> Any:
    """tf.strings.unicode_split: a string's characters as a string array; a vector's as
    RaggedRows."""
    return _rows(lambda text: np.array(list(text), dtype=str), input)


def strings_substr(input: Any, pos: Any, length: Any, unit: str = "BYTE") -> Any:
    """tf.strings.substr: ``len`` bytes (or UTF-8 characters) from ``pos`` (negative: from
    the end); TF refuses a ``pos`` outside the string. Bytes cut inside a character become
    U+FFFD here (TF keeps the raw bytes)."""
    start, size = int(pos), int(length)

    def cut(text: str) -> str:
        whole = text.encode("utf-8") if unit == "BYTE" else text.encode("utf-32-le")
        step = 1 if unit == "BYTE" else 4  # UTF8_CHAR: one character is 4 bytes of UTF-32
        count = len(whole) // step
        first = start + count if start < 0 else start
        if first < 0 or first > count:
            raise ValueError(f"substr: pos {start} is out of range for {text!r}")
        part = whole[first * step:(first + size) * step]
        return part.decode("utf-8" if unit == "BYTE" else "utf-32-le", errors="replace")

    return _strings_apply(cut, input)


def strings_as_string(input: Any, precision: int = -1, scientific: bool = False,
                      shortest: bool = False, width: int = -1, fill: str = "") -> Any:
    """tf.strings.as_string: TF's printf formats (``%f`` with 6 decimals by default, ``%e``,
    ``%g``; width and fill), ``true``/``false``; Python floats are float32, as in TF."""
    if isinstance(input, torch.Tensor):
        values = input.detach().cpu().numpy()
    else:
        values = np.asarray(input)
        if values.dtype == np.float64 and not isinstance(input, np.ndarray):
            values = values.astype(np.float32)
    size = str(width) if width > -1 else ""
    if values.dtype.kind == "b":
        text = np.vectorize(lambda v: "true" if v else "false", otypes=[object])(values)
    elif values.dtype.kind in "iu":
        text = np.vectorize(lambda v: f"%{fill}{size}d" % v, otypes=[object])(values)
    elif values.dtype.kind == "f":
        kind = "e" if scientific else "g" if shortest else "f"
        digits = f".{precision}" if precision > -1 else ""
        text = np.vectorize(lambda v: f"%{fill}{size}{digits}{kind}" % v,
                            otypes=[object])(values)
    else:
        raise TypeError(f"as_string: no format for {values.dtype}")
    out = text.astype(str)
    return str(out) if out.ndim == 0 else out


def strings_reduce_join(inputs: Any, axis: Any = None, keepdims: bool = False,
                        separator: str = "") -> Any:
    """tf.strings.reduce_join of a vector (or all of an array with axis=None)."""
    parts = np.asarray(inputs, dtype=str)
    if axis is not None and parts.ndim != 1:
        raise ValueError("strings_reduce_join: only vectors or axis=None")
    joined = separator.join(parts.reshape(-1).tolist())
    return np.array([joined], dtype=str) if keepdims else joined


def strings_join(inputs: Any, separator: str = "") -> Any:
    """tf.strings.join: element-wise concatenation of strings (or string arrays)."""
    arrays = np.broadcast_arrays(*(np.asarray(i, dtype=str) for i in inputs))
    joined = np.array([separator.join(t) for t in zip(*(a.reshape(-1) for a in arrays),
                                                     strict=True)], dtype=str)
    out = joined.reshape(arrays[0].shape)
    return str(out) if out.ndim == 0 else out


def strings_to_number(input: Any, out_type: Any = torch.float32) -> Any:
    """tf.strings.to_number: parsed into a tensor of ``out_type`` (ragged rows row by row)."""
    if isinstance(input, RaggedRows):
        return RaggedRows([strings_to_number(row, out_type) for row in input.rows])
    values = np.asarray(input, dtype=str)
    kind = float if out_type.is_floating_point else int
    parsed = np.vectorize(kind, otypes=[np.float64 if kind is float else np.int64])(values)
    return torch.as_tensor(parsed).to(out_type)


def strings_length(input: Any) -> torch.Tensor:
    """tf.strings.length: UTF-8 bytes per string (TF's default unit='BYTE'), int32."""
    values = np.asarray(input, dtype=str)
    counts = np.vectorize(lambda s: len(s.encode("utf-8")), otypes=[np.int32])(values)
    return torch.as_tensor(counts)


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_ASCII_UPPER = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}


# ---- TFRecord files and tf.train.Example records (tf.data.TFRecordDataset, tf.io.parse_*)
class FixedLenFeature:
    """tf.io.FixedLenFeature: a feature of a fixed shape, ``dtype`` torch's or "string"."""

    def __init__(self, shape: Any, dtype: Any, default_value: Any = None) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = dtype
        self.default_value = default_value


class VarLenFeature:
    """tf.io.VarLenFeature: every value of the feature, however many (none when absent);
    parsed to a 1-D tensor (strings: an object array of bytes), TF's SparseTensor dense."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype


def TFRecordDataset(  # noqa: N802
        filenames: Any, compression_type: Any = None, buffer_size: Any = None,
        num_parallel_reads: Any = None, name: Any = None) -> "DataPipeline":
    """tf.data.TFRecordDataset: each record's bytes, file after file (GZIP/ZLIB too)."""
    import gzip
    import struct
    import zlib

    names = [filenames] if isinstance(filenames, (str, bytes)) else list(filenames)

    def records() -> Any:
        for fn in names:
            with open(_local(fn), "rb") as f:
                data = f.read()
            if compression_type == "GZIP":
                data = gzip.decompress(data)
            elif compression_type == "ZLIB":
                data = zlib.decompress(data)
            at = 0
            while at + 12 <= len(data):
                (length,) = struct.unpack("<Q", data[at:at + 8])
                yield data[at + 12:at + 12 + length]
                at += 12 + length + 4  # length, its CRC, the record, its CRC
    return DataPipeline(records)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> Any:
    """(field number, wire type, value) of one protobuf message."""
    import struct

    at = 0
    value: Any
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 1:
            value, at = struct.unpack("<q", data[at:at + 8])[0], at + 8
        elif wire == 2:
            size, at = _varint(data, at)
            value, at = data[at:at + size], at + size
        elif wire == 5:
            value, at = data[at:at + 4], at + 4
        else:
            raise ValueError(f"tf.train.Example: unsupported wire type {wire}")
        yield number, wire, value


def _feature_values(feature: bytes) -> list[Any]:
    """The values of one tf.train.Feature (bytes, float or int64 list)."""
    import struct

    for kind, _, body in _fields(feature):
        out: list[Any] = []
        for _, wire, value in _fields(body):
            if kind == 1:
                out.append(value)
            elif kind == 2 and wire == 2:
                out += list(struct.unpack(f"<{len(value) // 4}f", value))
            elif kind == 2:
                out.append(struct.unpack("<f", value)[0])
            elif wire == 2:  # packed int64
                at = 0
                while at < len(value):
                    v, at = _varint(value, at)
                    out.append(v - (1 << 64) if v >= 1 << 63 else v)
            else:
                out.append(value - (1 << 64) if value >= 1 << 63 else value)
        return out
    return []


def parse_single_example(serialized: Any, features: dict[str, Any], example_names: Any = None,
                         name: Any = None) -> dict[str, Any]:
    """tf.io.parse_single_example with FixedLenFeature/VarLenFeature specs: strings as
    bytes."""
    found: dict[str, bytes] = {}
    for _, _, body in _fields(bytes(serialized)):  # Example.features
        for _, _, entry in _fields(body):  # Features.feature map entries
            parts = {number: value for number, _, value in _fields(entry)}
            found[parts[1].decode("utf-8")] = parts.get(2, b"")
    out: dict[str, Any] = {}
    for key, spec in features.items():
        if isinstance(spec, VarLenFeature):
            values = _feature_values(found[key]) if key in found else []
            out[key] = np.array(values, dtype=object) if spec.dtype == "string" else \
                torch.tensor(values, dtype=spec.dtype)
            continue
        if key in found:
            values = _feature_values(found[key])
        elif spec.default_value is not None:
            values = list(np.asarray(spec.default_value).reshape(-1))
        else:
            raise ValueError(f"parse_single_example: feature {key!r} is required")
        if spec.dtype == "string":
            array = np.array(values, dtype=object).reshape(spec.shape)
            out[key] = array.item() if array.ndim == 0 else array
        else:
            out[key] = torch.tensor(values, dtype=spec.dtype).reshape(spec.shape)
    return out


def parse_example(serialized: Any, features: dict[str, Any], example_names: Any = None,
                  name: Any = None) -> dict[str, Any]:
    """tf.io.parse_example: a batch of records, each feature stacked."""
    rows = [parse_single_example(s, features) for s in serialized]
    return {k: torch.stack([r[k] for r in rows]) if isinstance(rows[0][k], torch.Tensor)
            else np.array([r[k] for r in rows], dtype=object) for k in features}


# ---- tf.io.gfile on local files (Python's own functions; TF's glob order is glob.glob's)
def gfile_glob(pattern: Any) -> list[str]:
    """tf.io.gfile.glob: the matching paths, in the directory's order as TF lists them."""
    import glob

    return glob.glob(_local(pattern))


def gfile_exists(path: Any) -> bool:
    """tf.io.gfile.exists."""
    import os

    return os.path.exists(_local(path))


def gfile_isdir(path: Any) -> bool:
    """tf.io.gfile.isdir."""
    import os

    return os.path.isdir(_local(path))


def gfile_listdir(path: Any) -> list[str]:
    """tf.io.gfile.listdir: entry names, without the directory."""
    import os

    return os.listdir(_local(path))


def gfile_makedirs(path: Any) -> None:
    """tf.io.gfile.makedirs: parents too, no error when it exists."""
    import os

    os.makedirs(_local(path), exist_ok=True)


def gfile_open(name: Any, mode: str = "r") -> Any:
    """tf.io.gfile.GFile: a Python file object."""
    return open(_local(name), mode)
