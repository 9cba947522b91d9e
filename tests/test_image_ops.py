"""tf.io / tf.image / tf.audio / tf.strings rows (agent/rules/ops/image_io.py, image_pixels.py)
and the runtime functions they call (runtime/image_ops.py, image_pixels.py), against
TensorFlow itself.

Each TF expression is run by real TensorFlow in its own process (``K2L_TEST_TF_PYTHON`` /
``K2L_TF_PYTHON``, ``make tf-venv``; else those tests skip) on files this test writes with
Pillow and ``wave``; the same expression is converted by the rules and run here on torch.
The numbers compared all come from TensorFlow's run; random ops are checked for what TF
guarantees (each result is one of the allowed outcomes, every outcome occurs).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import textwrap
import wave
from pathlib import Path
from typing import Any

import libcst as cst
import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from agent.rules.imports import collect_imports
from agent.rules.ops.rewrite import convert_expr
from agent.rules.training import pipeline_maps
from agent.rules.training.runtime import image_ops, image_pixels, tensor_ops
from agent.tools.tf_original import tf_python

PIL = pytest.importorskip("PIL.Image")
IMPORTS = collect_imports(cst.parse_module("import tensorflow as tf\n"))

RNG = np.random.default_rng(7)
ARRAYS = {
    "img_u8": RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8),
    "img_f": RNG.random((6, 7, 3), dtype=np.float32),
    "batch_f": RNG.random((2, 6, 7, 3), dtype=np.float32),
    "gray_u8": RNG.integers(0, 256, (6, 7, 1), dtype=np.uint8),
    "wide_f": (RNG.random((5, 4, 3), dtype=np.float32) * 1.4 - 0.2),
    # tensor_ops.py rows (tf_direct.py)
    "lens": np.array([[2, 0], [5, 3]], dtype=np.int32),
    "sq": RNG.normal(size=(3, 4, 4)).astype(np.float32),
    "vec": RNG.normal(size=(2, 3)).astype(np.float32),
    "nd_idx": np.array([[0, 1], [2, 3], [1, 1]], dtype=np.int32),
    "deep": RNG.random((2, 3, 4, 8), dtype=np.float32),
}
STRINGS = {"text": "  Hello, World: 42 Apples  ", "path": "/data/cats/img_01.png",
           "number": "3.25", "words": ["ab", "cd", "ef"], "rows": ["1,2,3", "4", "5,6"],
           "spaced": ["a b  c", " d", "né e"]}

# (TF expression, absolute tolerance); exact where TF's numbers are exact
CASES: list[tuple[str, float]] = [
    ("tf.io.decode_png(tf.io.read_file(rgb_png))", 0),
    ("tf.io.decode_png(tf.io.read_file(rgba_png))", 0),
    ("tf.io.decode_png(tf.io.read_file(rgba_png), channels=3)", 0),
    ("tf.io.decode_png(tf.io.read_file(gray_png))", 0),
    ("tf.io.decode_png(tf.io.read_file(gray_png), channels=3)", 0),
    ("tf.io.decode_png(tf.io.read_file(rgb_png), channels=4)", 0),
    ("tf.io.decode_png(tf.io.read_file(rgb_png), channels=1)", 0),
    ("tf.io.decode_png(tf.io.read_file(palette_png))", 0),
    ("tf.io.decode_image(tf.io.read_file(rgb_png))", 0),
    ("tf.image.decode_image(tf.io.read_file(rgb_png), dtype=tf.float32)", 1e-7),
    # TF's default IDCT is libjpeg's fast one: a few levels off; the accurate one is exact
    ("tf.io.decode_image(tf.io.read_file(photo_jpg), channels=3)", 4),
    ("tf.image.decode_jpeg(tf.io.read_file(photo_jpg), dct_method='INTEGER_ACCURATE')", 0),
    ("tf.image.decode_jpeg(tf.io.read_file(photo_jpg), channels=1, dct_method='INTEGER_ACCURATE')",
     0),
    ("tf.io.decode_png(tf.io.read_file(rgba_png), channels=1)", 0),
    ("tf.io.decode_gif(tf.io.read_file(anim_gif))", 0),
    ("tf.io.decode_bmp(tf.io.read_file(rgb_bmp))", 0),
    ("tf.image.resize(img_u8, (11, 13))", 1e-4),
    ("tf.image.resize(img_f, [3, 4])", 1e-5),
    ("tf.image.resize(batch_f, (9, 5))", 1e-5),
    ("tf.image.resize(img_u8, (4, 12), method='nearest')", 0),
    ("tf.image.resize(batch_f, (12, 3), method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)", 0),
    ("tf.image.convert_image_dtype(img_u8, tf.float32)", 0),
    ("tf.image.convert_image_dtype(img_f, dtype=tf.uint8)", 0),
    ("tf.image.convert_image_dtype(wide_f, tf.uint8, saturate=True)", 0),
    ("tf.image.convert_image_dtype(img_u8, tf.int32)", 0),
    ("tf.image.rgb_to_grayscale(img_u8)", 0),
    ("tf.image.rgb_to_grayscale(batch_f)", 1e-6),
    ("tf.image.grayscale_to_rgb(gray_u8)", 0),
    ("tf.image.per_image_standardization(img_u8)", 1e-5),
    ("tf.image.per_image_standardization(batch_f)", 1e-5),
    ("tf.image.pad_to_bounding_box(img_u8, 2, 1, 9, 10)", 0),
    ("tf.image.pad_to_bounding_box(batch_f, tf.constant(1), tf.constant(0), 7, 8)", 0),
    ("tf.image.crop_to_bounding_box(img_u8, tf.constant(1), 2, tf.constant(3), 4)", 0),
    ("tf.image.resize_with_crop_or_pad(img_u8, 4, 10)", 0),
    ("tf.image.resize_with_crop_or_pad(batch_f, 9, 3)", 0),
    ("tf.image.central_crop(img_f, 0.5)", 0),
    ("tf.image.central_crop(batch_f, central_fraction=0.7)", 0),
    ("tf.image.crop_to_bounding_box(img_u8, 1, 2, 3, 4)", 0),
    ("tf.image.flip_left_right(img_u8)", 0),
    ("tf.image.flip_up_down(batch_f)", 0),
    ("tf.image.transpose(img_u8)", 0),
    ("tf.image.adjust_brightness(img_f, 0.2)", 1e-6),
    ("tf.image.adjust_brightness(img_u8, -0.1)", 0),
    ("tf.image.adjust_contrast(img_u8, 1.7)", 0),
    ("tf.image.adjust_contrast(batch_f, 0.4)", 1e-6),
    ("tf.image.resize(img_u8, (11, 13), method='bicubic')", 1e-4),
    ("tf.image.resize(batch_f, (4, 3), method=tf.image.ResizeMethod.BICUBIC)", 1e-6),
    # the size TF keeps the proportions at (7 * 0.5 = 3.5 rounds to 4, half to even)
    ("tf.image.resize(img_f, (16, 32), preserve_aspect_ratio=True)", 1e-5),
    ("tf.image.resize(batch_f, (3, 20), preserve_aspect_ratio=True)", 1e-5),
    ("tf.image.resize(gray_u8, (9, 5), preserve_aspect_ratio=True, method='nearest')", 0),
    ("tf.image.psnr(batch_f, tf.image.flip_left_right(batch_f), max_val=1.0)", 1e-5),
    ("tf.image.psnr(img_u8, tf.image.flip_up_down(img_u8), 255)", 1e-4),
    ("tf.image.ssim(batch_f, tf.image.flip_up_down(batch_f), 1.0, filter_size=5)", 1e-6),
    ("tf.image.ssim(img_u8, tf.image.flip_left_right(img_u8), 255, filter_size=3, "
     "filter_sigma=0.7, k1=0.02)", 1e-6),
    ("tf.image.image_gradients(batch_f)", 1e-7),
    ("tf.image.rgb_to_hsv(batch_f)", 1e-6),
    ("tf.image.hsv_to_rgb(img_f)", 1e-6),
    ("tf.image.adjust_saturation(batch_f, 1.8)", 1e-6),
    ("tf.image.adjust_saturation(img_u8, 0.3)", 0),
    ("tf.image.adjust_hue(img_f, -0.35)", 1e-6),
    ("tf.image.adjust_hue(img_u8, 0.45)", 0),
    ("tf.image.extract_patches(batch_f, [1, 2, 3, 1], [1, 2, 2, 1], [1, 1, 1, 1], 'SAME')", 0),
    ("tf.image.extract_patches(batch_f, [1, 2, 2, 1], [1, 1, 2, 1], [1, 2, 1, 1], 'VALID')", 0),
    ("tf.image.extract_patches(img_u8[None], [1, 3, 3, 1], [1, 2, 2, 1], [1, 1, 1, 1], 'SAME')",
     0),
    ("tf.sequence_mask(lens, 6)", 0),
    ("tf.sequence_mask(lens, maxlen=4, dtype=tf.float32)", 0),
    ("tf.sequence_mask([1, 3])", 0),
    ("tf.gather_nd(sq, nd_idx)", 0),
    ("tf.gather_nd(sq, nd_idx[:, :1])", 0),
    ("tf.nn.depth_to_space(deep, 2)", 0),
    ("tf.nn.space_to_depth(batch_f[:, :6, :6], 3)", 0),
    ("tf.nn.space_to_depth(tf.nn.depth_to_space(deep, 2), 2)", 0),
    ("tf.roll(sq, shift=2, axis=1)", 0),
    ("tf.roll(sq, [1, -1], [1, 2])", 0),
    ("tf.linalg.inv(sq + 4 * tf.eye(4))", 1e-5),
    ("tf.linalg.det(sq)", 1e-4),
    ("tf.linalg.logdet(tf.matmul(sq, sq, transpose_b=True) + tf.eye(4))", 1e-4),
    ("tf.linalg.diag_part(sq)", 0),
    ("tf.linalg.diag(vec)", 0),
    ("tf.linalg.trace(sq)", 1e-6),
    ("tf.math.log_sigmoid(vec * 10)", 1e-6),
    ("tf.math.xlogy(tf.nn.relu(vec), tf.abs(vec) + 0.1)", 1e-6),
    ("tf.boolean_mask(sq, sq[:, :, 0] > 0)", 0),
    ("tf.boolean_mask(vec, [True, False])", 0),
    ("tf.clip_by_norm(sq, 1.5)", 1e-6),
    ("tf.clip_by_norm(sq, 0.8, axes=[2])", 1e-6),
    ("tf.image.rot90(img_u8)", 0),
    ("tf.image.rot90(batch_f, k=3)", 0),
    ("tf.audio.decode_wav(tf.io.read_file(mono_wav))", 0),
    ("tf.audio.decode_wav(tf.io.read_file(stereo_wav), desired_channels=1)", 0),
    ("tf.audio.decode_wav(tf.io.read_file(stereo_wav), desired_channels=3, "
     "desired_samples=40)", 0),
]
# tf.strings: only converted inside tf.data map functions (Python strings there)
STRING_CASES: list[str] = [
    "tf.strings.lower(text)",
    "tf.strings.upper(text)",
    "tf.strings.strip(text)",
    "tf.strings.regex_replace(text, '[^a-zA-Z ]', '')",
    "tf.strings.regex_replace(text, 'l', 'L', replace_global=False)",
    "tf.strings.split(path, '/')[-2]",
    "tf.strings.split(text)",
    "tf.strings.reduce_join(tf.strings.split(path, '/')[1:], separator='+')",
    "tf.strings.join([path, number], separator='#')",
    "tf.strings.to_number(number)",
    "tf.strings.to_number(number, out_type=tf.float64)",
    "tf.strings.length(text)",
    "tf.strings.lower(words)",
    "tf.strings.unicode_split(text, input_encoding='UTF-8')",
    "tf.strings.unicode_split(path, 'UTF-8')[3:7]",
    # a vector of strings: ragged rows, padded by to_tensor as TF pads them
    "tf.strings.split(rows, ',').to_tensor()",
    "tf.strings.split(spaced).to_tensor()",
    "tf.strings.to_number(tf.strings.split(rows, ','), tf.float32).to_tensor()",
    "tf.strings.to_number(tf.strings.split(rows, ','), out_type=tf.int32).to_tensor()",
    "tf.strings.to_number(tf.strings.split(rows, ',')).to_tensor(default_value=-1.0)",
    "tf.strings.unicode_split(spaced, 'UTF-8').to_tensor()",
    "tf.strings.split(rows, ',')[1]",
    "tf.strings.substr(text, 2, 5)",
    "tf.strings.substr(path, -7, 3)",
    "tf.strings.substr(words, 1, len=4)",
    "tf.strings.substr(path, 3, 40)",
    "tf.strings.substr('néon', 1, 2, unit='UTF8_CHAR')",
    "tf.strings.as_string(3.25)",
    "tf.strings.as_string(123456789.0)",
    "tf.strings.as_string(vec, precision=3)",
    "tf.strings.as_string(vec, scientific=True)",
    "tf.strings.as_string(vec * 1e-3, shortest=True)",
    "tf.strings.as_string(lens, width=4, fill='0')",
    "tf.strings.as_string(lens - 3, width=3)",
    "tf.strings.as_string(vec > 0)",
]
# random draws: (TF code; compared by shape, dtype, mean and spread of many samples)
RANDOM_CASES = [
    "tf.random.gamma([50000], 2.5)",
    "tf.random.gamma(shape=[50000, 1], alpha=0.4, beta=3.0)",
    "tf.random.gamma([50000], [0.5, 2.0, 7.0])",
]

TF_SIDE = textwrap.dedent('''\
    import json, sys
    import numpy as np
    import tensorflow as tf
    spec = json.loads(sys.argv[1])
    tf.random.set_seed(0)  # the random cases: the same draws on every run
    ns = {"tf": tf, **spec["names"]}
    with np.load(spec["arrays"]) as data:
        ns.update({k: tf.constant(data[k]) for k in data.files})
    out = {}

    def plain(v):
        a = v.numpy() if hasattr(v, "numpy") else np.asarray(v)
        if isinstance(a, bytes):
            return np.array(a.decode("utf-8"))
        if a.dtype == object:
            a = np.vectorize(lambda s: s.decode("utf-8"), otypes=[object])(a).astype(str)
        return a

    for k, code in enumerate(spec["cases"]):
        value = eval(code, ns)
        parts = list(value) if isinstance(value, tuple) else [value]
        for j, part in enumerate(parts):
            out[f"{k}_{j}"] = plain(part)
    np.savez(spec["out"], **out)
    ''')


def _write_files(folder: Path) -> dict[str, str]:
    """Images and sounds of each kind the cases read, written with Pillow and wave."""
    image = PIL
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    files = {"rgb_png": "rgb.png", "rgba_png": "rgba.png", "gray_png": "gray.png",
             "palette_png": "palette.png", "photo_jpg": "photo.jpg", "anim_gif": "anim.gif",
             "rgb_bmp": "rgb.bmp", "mono_wav": "mono.wav", "stereo_wav": "stereo.wav"}
    paths = {k: str(folder / v) for k, v in files.items()}
    image.fromarray(rgb).save(paths["rgb_png"])
    image.fromarray(rng.integers(0, 256, (9, 11, 4), dtype=np.uint8)).save(paths["rgba_png"])
    image.fromarray(rgb[:, :, 0]).save(paths["gray_png"])
    image.fromarray(rgb).convert("P", palette=image.Palette.ADAPTIVE, colors=16).save(
        paths["palette_png"])
    yy, xx = np.mgrid[0:24, 0:32]  # a smooth photo-like picture: JPEG keeps it close
    photo = np.stack([yy * 9, xx * 7, (yy + xx) * 4], axis=-1).clip(0, 255).astype(np.uint8)
    image.fromarray(photo).save(paths["photo_jpg"], quality=90)
    frames = [image.fromarray(np.full((5, 6, 3), c, dtype=np.uint8)) for c in (0, 128, 255)]
    frames[0].save(paths["anim_gif"], save_all=True, append_images=frames[1:])
    image.fromarray(rgb).save(paths["rgb_bmp"])
    for key, channels in (("mono_wav", 1), ("stereo_wav", 2)):
        samples = rng.integers(-32768, 32767, (30, channels), dtype=np.int16)
        with wave.open(paths[key], "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(samples.astype("<i2").tobytes())
    return paths


def _tensorflow(tmp_path: Path, cases: list[str], names: dict[str, Any]) -> dict[str, Any]:
    made = os.environ.get("K2L_TEST_TF_PYTHON", "")
    python = made if made else tf_python()[0]
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    arrays = tmp_path / "arrays.npz"
    np.savez(arrays, **ARRAYS)
    script = tmp_path / "tf_side.py"
    script.write_text(TF_SIDE, encoding="utf-8")
    out = tmp_path / "tf.npz"
    spec = json.dumps({"cases": cases, "names": names, "arrays": str(arrays), "out": str(out)})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([python, str(script), spec], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


def _ours(code: str, names: dict[str, Any], pipeline: bool = False) -> Any:
    expr = cst.parse_expression(code)
    if pipeline:
        node, problems = pipeline_maps.rewrite(expr, IMPORTS)
    else:
        node, problems = convert_expr(expr, IMPORTS, {})
    assert problems == [], problems
    torch_code = cst.Module([]).code_for_node(node)
    assert "tf." not in torch_code
    ns = {"torch": torch, "F": F, **vars(image_ops), **vars(image_pixels), **vars(tensor_ops),
          **names,
          **{k: torch.as_tensor(v) for k, v in ARRAYS.items()}}
    return eval(torch_code, ns)  # noqa: S307 - the rules' own output


def _same(want: np.ndarray, got: Any, atol: float) -> None:
    got = np.asarray(got.numpy() if isinstance(got, torch.Tensor) else got)
    assert got.shape == want.shape
    if want.dtype.kind == "U":
        assert got.astype(str).tolist() == want.tolist()
        return
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), atol=atol,
                               rtol=0)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("image_ops")
    paths = _write_files(tmp)
    codes = [c for c, _ in CASES] + STRING_CASES + RANDOM_CASES
    return paths, _tensorflow(tmp, codes, {**paths, **STRINGS})


@pytest.mark.tensorflow
@pytest.mark.parametrize(("k", "code", "atol"), [(k, c, a) for k, (c, a) in enumerate(CASES)],
                         ids=[c for c, _ in CASES])
def test_image_rows_match_tensorflow(reference: tuple[dict[str, str], dict[str, Any]], k: int,
                                     code: str, atol: float) -> None:
    paths, tf_out = reference
    got = _ours(code, paths)
    parts = list(got) if isinstance(got, tuple) else [got]
    assert len([key for key in tf_out if key.startswith(f"{k}_")]) == len(parts)
    for j, part in enumerate(parts):
        _same(tf_out[f"{k}_{j}"], part, atol)


@pytest.mark.tensorflow
@pytest.mark.parametrize(("k", "code"), list(enumerate(STRING_CASES)), ids=STRING_CASES)
def test_string_rows_match_tensorflow(reference: tuple[dict[str, str], dict[str, Any]], k: int,
                                      code: str) -> None:
    _, tf_out = reference
    got = _ours(code, STRINGS, pipeline=True)
    want = tf_out[f"{len(CASES) + k}_0"]
    if isinstance(got, torch.Tensor):
        _same(want, got, 0)
    else:
        assert np.asarray(got).astype(str).tolist() == want.tolist()


@pytest.mark.tensorflow
@pytest.mark.parametrize(("k", "code"), list(enumerate(RANDOM_CASES)), ids=RANDOM_CASES)
def test_random_rows_draw_tensorflows_distribution(
        reference: tuple[dict[str, str], dict[str, Any]], k: int, code: str) -> None:
    _, tf_out = reference
    torch.manual_seed(0)
    got = _ours(code, {}, pipeline=True).numpy()
    want = tf_out[f"{len(CASES) + len(STRING_CASES) + k}_0"]
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got.mean(axis=0), want.mean(axis=0), rtol=0.06)
    np.testing.assert_allclose(got.std(axis=0), want.std(axis=0), rtol=0.06)


def test_string_rows_only_inside_pipelines() -> None:
    """A TextVectorization standardize function stays Keras: tf.strings stays TF there."""
    node, problems = convert_expr(cst.parse_expression("tf.strings.lower(x)"), IMPORTS, {})
    assert problems == ["tensorflow.strings.lower has no torch mapping"]


@pytest.mark.parametrize("code", [
    "tf.image.resize(x, (4, 4), method='area')",
    "tf.image.resize(x, (4, 4), antialias=True)",
    "tf.image.decode_jpeg(data, ratio=2)",
    "tf.strings.lower(s, encoding='utf-8')",
])
def test_arguments_without_counterpart_are_reported(code: str) -> None:
    node, problems = pipeline_maps.rewrite(cst.parse_expression(code), IMPORTS)
    assert len(problems) == 1
    assert cst.Module([]).code_for_node(node) == code  # left exactly as written


def test_random_flip_gives_both_outcomes_per_image() -> None:
    torch.manual_seed(1)
    x = torch.as_tensor(ARRAYS["batch_f"]).repeat(20, 1, 1, 1)
    out = image_ops.image_random_flip(x, -2)
    flipped = torch.flip(x, dims=(-2,))
    per_image = [bool(torch.equal(o, f)) for o, f in zip(out, flipped, strict=True)]
    same = [bool(torch.equal(o, i)) for o, i in zip(out, x, strict=True)]
    assert all(a != b for a, b in zip(per_image, same, strict=True))  # one or the other
    assert any(per_image) and any(same)  # flipped independently, as TF flips each image


def test_random_crop_is_a_window_and_seeded_streams_repeat() -> None:
    torch.manual_seed(2)
    x = torch.arange(6 * 7 * 3).reshape(6, 7, 3)
    starts = set()
    for _ in range(60):
        out = image_ops.image_random_crop(x, [4, 5, 3])
        top, left = divmod(int(out[0, 0, 0]) // 3, 7)
        assert torch.equal(out, x[top:top + 4, left:left + 5])
        starts.add((top, left))
    assert starts == {(t, c) for t in range(3) for c in range(3)}  # every offset occurs
    image_ops._IMAGE_GENERATORS.clear()
    first = [image_ops.image_random_crop(x, [2, 2, 3], seed=4) for _ in range(3)]
    image_ops._IMAGE_GENERATORS.clear()
    again = [image_ops.image_random_crop(x, [2, 2, 3], seed=4) for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))


def test_random_brightness_and_contrast_stay_in_range() -> None:
    torch.manual_seed(3)
    x = torch.as_tensor(ARRAYS["img_f"])
    deltas = {round(float((image_ops.image_random_brightness(x, 0.3) - x).mean()), 5)
              for _ in range(30)}
    assert len(deltas) > 20 and all(-0.3 <= d < 0.3 for d in deltas)
    out = image_ops.image_random_contrast(x, 0.5, 0.9)
    mean = x.mean(dim=(0, 1), keepdim=True)
    factor = float(((out - mean) / (x - mean)).median())
    assert 0.5 <= factor < 0.9


def test_decode_reads_bytes_from_memory() -> None:
    buffer = io.BytesIO()
    PIL.fromarray(ARRAYS["img_u8"]).save(buffer, format="PNG")
    out = image_ops.image_decode(buffer.getvalue(), channels=3)
    assert out.dtype == torch.uint8 and torch.equal(out, torch.as_tensor(ARRAYS["img_u8"]))
