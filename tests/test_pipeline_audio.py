"""``tf.signal.stft`` (ops/signal.py → runtime/signal_ops.py) and the audio pipelines it
unblocks: a tf.data map function that reads WAV files, decodes them and takes their
spectrogram converts with its pipeline, and the converted script trains without Keras or
TensorFlow. The numbers are TensorFlow's own, computed in a process with TensorFlow
(``K2L_TEST_TF_PYTHON`` / ``K2L_TF_PYTHON``; else those comparisons skip)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
import wave
from pathlib import Path
from typing import Any

import libcst as cst
import numpy as np
import pytest
import torch
from without_tf import run_without_tf

from agent.rules.convert import convert_source
from agent.rules.imports import collect_imports
from agent.rules.ops.rewrite import convert_expr
from agent.rules.training.runtime.signal_ops import signal_stft
from agent.tools.tf_original import tf_python

IMPORTS = collect_imports(cst.parse_module("import tensorflow as tf\n"))
# TF calls, each run by TensorFlow and, converted, here (``x``: a [2, 300] float32 signal)
STFT_CALLS = [
    "tf.signal.stft(x, frame_length=64, frame_step=32)",  # fft_length: the next power of 2
    "tf.signal.stft(x, 50, 20)",
    "tf.signal.stft(x, frame_length=40, frame_step=16, fft_length=96)",
    "tf.signal.stft(x, 64, 50, window_fn=tf.signal.hamming_window, pad_end=True)",
    "tf.signal.stft(x, 32, 32, fft_length=16, window_fn=None)",  # a cropped FFT
    "tf.signal.stft(x[:, :20], 64, 16)",  # shorter than a frame: no frames
    "tf.signal.hann_window(10, periodic=False)",
    "tf.signal.hamming_window(12)",
]

TF_STFT = textwrap.dedent('''\
    import json, sys
    import numpy as np
    import tensorflow as tf
    x = np.random.default_rng(7).standard_normal((2, 300)).astype("float32")
    out = []
    for code in json.loads(sys.argv[1]):
        z = np.asarray(eval(code))
        out.append([z.real.tolist(), z.imag.tolist(), list(z.shape)])
    print(json.dumps(out))
    ''')


def _tf() -> str:
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0] or ""
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    return python


def _converted(code: str) -> str:
    node, problems = convert_expr(cst.parse_expression(code), IMPORTS, {})
    assert problems == [], problems
    out = cst.Module([]).code_for_node(node)
    assert "tf." not in out
    return out


@pytest.mark.tensorflow
def test_stft_and_windows_give_tensorflows_numbers() -> None:
    done = subprocess.run([_tf(), "-c", TF_STFT, json.dumps(STFT_CALLS)], capture_output=True,
                          text=True, timeout=300, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                               "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    x = torch.as_tensor(np.random.default_rng(7).standard_normal((2, 300)).astype("float32"))
    for code, (real, imag, shape) in zip(STFT_CALLS, theirs, strict=True):
        got = eval(_converted(code), {"torch": torch, "x": x,  # noqa: S307
                                      "signal_stft": signal_stft}).numpy()
        assert list(got.shape) == shape, code
        want = np.asarray(real) + 1j * np.asarray(imag) if shape[-1] else np.zeros(shape)
        np.testing.assert_allclose(got, want.reshape(shape), atol=2e-4, rtol=1e-4,
                                   err_msg=code)


def test_stft_rows_refuse_what_they_cannot_keep() -> None:
    _, problems = convert_expr(cst.parse_expression("tf.signal.stft(x, 64, 32, pad_value=1.0)"),
                               IMPORTS, {})
    assert problems and "pad_value" in problems[0]


# A speech-style pipeline: WAV paths and labels, a map function reading, decoding and
# normalising a spectrogram, batches of it fed to a small Keras model.
AUDIO = textwrap.dedent('''\
    import os

    import tensorflow as tf
    from tensorflow import keras

    FRAME_LENGTH = 64
    FRAME_STEP = 32
    FFT_LENGTH = 128


    def encode_sample(wav_file, label):
        audio, _ = tf.audio.decode_wav(tf.io.read_file(wav_file))
        audio = tf.cast(tf.squeeze(audio, axis=-1), tf.float32)
        spectrogram = tf.signal.stft(
            audio, frame_length=FRAME_LENGTH, frame_step=FRAME_STEP, fft_length=FFT_LENGTH
        )
        spectrogram = tf.math.pow(tf.abs(spectrogram), 0.5)
        means = tf.math.reduce_mean(spectrogram, 1, keepdims=True)
        stddevs = tf.math.reduce_std(spectrogram, 1, keepdims=True)
        return (spectrogram - means) / (stddevs + 1e-10), label


    def build(paths, labels):
        ds = tf.data.Dataset.from_tensor_slices((paths, labels))
        ds = ds.map(encode_sample, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(2).prefetch(buffer_size=tf.data.AUTOTUNE)


    if __name__ == "__main__":
        folder = os.environ["WAV_DIR"]
        names = sorted(os.listdir(folder))
        train = build([os.path.join(folder, n) for n in names], [k % 2 for k in range(len(names))])
        model = keras.Sequential([
            keras.Input(shape=(15, 65)),
            keras.layers.Flatten(),
            keras.layers.Dense(2, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(train, epochs=1)
        print("FITTED")
    ''')

ELEMENTS = textwrap.dedent('''\
    import json, runpy, sys
    import numpy as np
    spec = json.loads(sys.argv[1])
    if spec["block"]:
        sys.modules.update(keras=None, tensorflow=None)
    ns = runpy.run_path(spec["script"])
    out = {}
    for b, batch in enumerate(ns["build"](spec["paths"], np.arange(len(spec["paths"])))):
        for j, t in enumerate(batch):
            out[f"{b}_{j}"] = np.asarray(t.numpy() if hasattr(t, "numpy") else t)
    np.savez(spec["out"], **out)
    ''')


def _write_wavs(folder: Path, count: int = 5, samples: int = 512) -> list[str]:
    """16-bit mono PCM files of noise and a tone: 15 frames of 64 every 32 samples."""
    folder.mkdir()
    rng = np.random.default_rng(3)
    paths = []
    for k in range(count):
        t = np.arange(samples)
        wave_k = 0.4 * np.sin(2 * np.pi * (k + 2) * t / 64) + 0.1 * rng.standard_normal(samples)
        pcm = np.clip(wave_k * 32767, -32768, 32767).astype("<i2")
        path = folder / f"clip_{k}.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(pcm.tobytes())
        paths.append(str(path))
    return paths


def _convert(tmp_path: Path) -> Path:
    result = convert_source(AUDIO, "audio.py")
    assert not result.error and not result.unmapped, result.unmapped
    assert result.keras_deps == [], result.keras_deps
    imported = {a.name.split(".")[0] for n in ast.walk(ast.parse(result.source))
                if isinstance(n, ast.Import) for a in n.names}
    assert not imported & {"keras", "tensorflow"}, imported
    assert "signal_stft(" in result.source and "def signal_stft(" in result.source
    script = tmp_path / "converted.py"
    script.write_text(result.source, encoding="utf-8")
    return script


def test_audio_pipeline_converts_and_trains_without_tensorflow(tmp_path: Path) -> None:
    _write_wavs(tmp_path / "wavs")
    script = _convert(tmp_path)
    run = run_without_tf(script.read_text(encoding="utf-8"), tmp_path,
                         {"WAV_DIR": str(tmp_path / "wavs")})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "FITTED" in run.stdout


def _elements(python: str, script: Path, paths: list[str], block: bool) -> dict[str, Any]:
    runner = script.parent / "elements.py"
    runner.write_text(ELEMENTS, encoding="utf-8")
    out = script.parent / f"{script.stem}_{int(block)}.npz"
    spec = json.dumps({"script": str(script), "paths": paths, "block": block, "out": str(out)})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": "",
           "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([python, str(runner), spec], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.tensorflow
def test_audio_pipeline_gives_tensorflows_elements(tmp_path: Path) -> None:
    python = _tf()
    paths = _write_wavs(tmp_path / "wavs")
    original = tmp_path / "original.py"
    original.write_text(AUDIO, encoding="utf-8")
    theirs = _elements(python, original, paths, block=False)
    ours = _elements(sys.executable, _convert(tmp_path), paths, block=True)
    assert sorted(ours) == sorted(theirs) and len(theirs) == 6  # 3 batches of (x, y)
    for key, want in theirs.items():
        assert ours[key].shape == want.shape, key
        assert ours[key].dtype == want.dtype, (key, ours[key].dtype, want.dtype)
        np.testing.assert_allclose(ours[key], want, atol=2e-3, rtol=1e-3, err_msg=key)
