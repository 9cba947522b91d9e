"""Writing TFRecord files of ``tf.train.Example`` records without TensorFlow
(runtime/tfrecord_write.py) and encoding images (``tf.io.encode_jpeg``/``encode_png`` →
runtime/image_ops.py).

TensorFlow reads what the runtime writes (its reader checks both CRCs of every record;
``K2L_TEST_TF_PYTHON`` / ``K2L_TF_PYTHON``, else that comparison skips); a converted script
that encodes images, writes records and trains on them runs without Keras or TensorFlow."""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.rules.training.runtime.image_ops import (
    FixedLenFeature,
    TFRecordDataset,
    VarLenFeature,
    image_decode,
    image_encode_jpeg,
    image_encode_png,
    parse_single_example,
)
from agent.rules.training.runtime.tfrecord_write import (
    BytesList,
    Example,
    Feature,
    Features,
    FloatList,
    Int64List,
    TFRecordWriter,
)
from agent.tools.tf_original import tf_python

PIL = pytest.importorskip("PIL.Image")
BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")
RECORDS = [  # (name, scores, ids): a negative id, an empty list, a non-ASCII name
    ("cat", [0.25, -1.5, 3.0], [7, -3, 2**40]),
    ("žirafa", [], [0]),
    ("", [1e-3], []),
]


def _write(path: Path, compression: str, image: np.ndarray) -> None:
    with TFRecordWriter(str(path), options=compression or None) as writer:
        for name, scores, ids in RECORDS:
            feature = {
                "name": Feature(bytes_list=BytesList(value=[name.encode("utf-8")])),
                "scores": Feature(float_list=FloatList(value=scores)),
                "ids": Feature(int64_list=Int64List(value=ids)),
                "png": Feature(bytes_list=BytesList(value=[image_encode_png(image)])),
            }
            writer.write(Example(features=Features(feature=feature)).SerializeToString())


def _image() -> np.ndarray:
    return np.random.default_rng(4).integers(0, 256, (6, 5, 3), dtype=np.uint8)


@pytest.mark.parametrize("compression", ["", "GZIP", "ZLIB"])
def test_written_records_read_back(tmp_path: Path, compression: str) -> None:
    path = tmp_path / "data.tfrec"
    _write(path, compression, _image())
    spec = {"name": FixedLenFeature([], "string"), "scores": VarLenFeature(torch.float32),
            "ids": VarLenFeature(torch.int64), "png": FixedLenFeature([], "string")}
    got = [parse_single_example(r, spec)
           for r in TFRecordDataset([str(path)], compression_type=compression)]
    assert [g["name"].decode("utf-8") for g in got] == [r[0] for r in RECORDS]
    for g, (_, scores, ids) in zip(got, RECORDS, strict=True):
        np.testing.assert_array_equal(g["scores"].numpy(), np.float32(scores))
        assert g["ids"].tolist() == ids
        np.testing.assert_array_equal(image_decode(g["png"]).numpy(), _image())


def test_masked_crc_is_tensorflows_checksum() -> None:
    from agent.rules.training.runtime.tfrecord_write import _masked_crc

    crc = 0xE3069283  # CRC-32C of b"123456789", the standard check value
    assert _masked_crc(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_jpeg_encoding_decodes_close_to_the_image() -> None:
    smooth = np.linspace(0, 255, 16 * 16 * 3).reshape(16, 16, 3).astype(np.uint8)
    data = image_encode_jpeg(torch.from_numpy(smooth))
    assert data[:2] == b"\xff\xd8"
    back = np.asarray(PIL.open(io.BytesIO(data)).convert("RGB"), dtype=np.int64)
    assert np.abs(back - smooth).max() <= 8
    with pytest.raises(TypeError):
        image_encode_png(np.zeros((2, 2, 3), dtype=np.float32))  # TF: uint8 only


TF_READ = textwrap.dedent('''\
    import json, sys
    import numpy as np
    import tensorflow as tf
    spec = json.loads(sys.argv[1])
    features = {"name": tf.io.FixedLenFeature([], tf.string),
                "scores": tf.io.VarLenFeature(tf.float32),
                "ids": tf.io.VarLenFeature(tf.int64),
                "png": tf.io.FixedLenFeature([], tf.string)}
    out = []
    for record in tf.data.TFRecordDataset([spec["file"]], compression_type=spec["kind"]):
        e = tf.io.parse_single_example(record, features)
        out.append([e["name"].numpy().decode("utf-8"),
                    tf.sparse.to_dense(e["scores"]).numpy().tolist(),
                    tf.sparse.to_dense(e["ids"]).numpy().tolist(),
                    tf.io.decode_png(e["png"]).numpy().tolist()])
    smooth = np.linspace(0, 255, 16 * 16 * 3).reshape(16, 16, 3).astype(np.uint8)
    ours = tf.io.decode_jpeg(open(spec["jpeg"], "rb").read()).numpy().astype(int)
    theirs = tf.io.decode_jpeg(tf.io.encode_jpeg(smooth)).numpy().astype(int)
    print(json.dumps({"records": out, "jpeg_gap": int(np.abs(ours - theirs).max())}))
    ''')


@pytest.mark.tensorflow
@pytest.mark.parametrize("compression", ["", "GZIP", "ZLIB"])
def test_tensorflow_reads_the_written_records(tmp_path: Path, compression: str) -> None:
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0] or ""
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    path = tmp_path / "data.tfrec"
    _write(path, compression, _image())
    smooth = np.linspace(0, 255, 16 * 16 * 3).reshape(16, 16, 3).astype(np.uint8)
    (tmp_path / "ours.jpg").write_bytes(image_encode_jpeg(smooth))
    spec = {"file": str(path), "kind": compression, "jpeg": str(tmp_path / "ours.jpg")}
    done = subprocess.run([python, "-c", TF_READ, json.dumps(spec)], capture_output=True,
                          text=True, timeout=300, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                               "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r[0] for r in theirs["records"]] == [r[0] for r in RECORDS]
    for got, (_, scores, ids) in zip(theirs["records"], RECORDS, strict=True):
        assert got[1] == np.float32(scores).tolist() and got[2] == ids
        assert got[3] == _image().tolist()
    # TF's decoder reads the JPEG this runtime wrote as it reads its own encoding, within
    # what two libjpeg builds differ by
    assert theirs["jpeg_gap"] <= 4


# A script that turns image files into TFRecords (helpers per feature type, as the
# TFRecord guides write them), reads them back through tf.data and trains on them.
SCRIPT = textwrap.dedent('''\
    import os

    import tensorflow as tf
    from tensorflow import keras

    FOLDER = os.environ["IMAGE_DIR"]


    def image_feature(value):
        return tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[tf.io.encode_png(value).numpy()])
        )


    def int64_feature(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


    def float_feature_list(value):
        return tf.train.Feature(float_list=tf.train.FloatList(value=value))


    def create_example(image, label, box):
        feature = {
            "image": image_feature(image),
            "label": int64_feature(label),
            "box": float_feature_list(box),
        }
        return tf.train.Example(features=tf.train.Features(feature=feature))


    def parse(record):
        spec = {
            "image": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64),
            "box": tf.io.VarLenFeature(tf.float32),
        }
        example = tf.io.parse_single_example(record, spec)
        image = tf.io.decode_png(example["image"], channels=3)
        image = tf.image.convert_image_dtype(image, tf.float32)
        return image, tf.sparse.to_dense(example["box"])[:2]


    if __name__ == "__main__":
        record_file = os.path.join(FOLDER, "train.tfrec")
        names = sorted(n for n in os.listdir(FOLDER) if n.endswith(".png"))
        with tf.io.TFRecordWriter(record_file) as writer:
            for k, name in enumerate(names):
                image = tf.io.decode_png(tf.io.read_file(os.path.join(FOLDER, name)))
                example = create_example(image, k % 2, [0.1 * k, 0.2, 0.5, 0.5])
                writer.write(example.SerializeToString())
        train = tf.data.TFRecordDataset(record_file).map(parse).batch(2)
        model = keras.Sequential([keras.Input(shape=(8, 8, 3)), keras.layers.Flatten(),
                                  keras.layers.Dense(2)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(train, epochs=1)
        print("FITTED")
    ''')


def test_record_writing_script_converts_and_trains_without_tensorflow(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for k in range(5):
        PIL.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
            tmp_path / f"img_{k}.png")
    result = convert_source(SCRIPT, "records.py")
    assert not result.error and not result.unmapped, result.unmapped
    assert result.keras_deps == [], result.keras_deps
    imported = {a.name.split(".")[0] for n in ast.walk(ast.parse(result.source))
                if isinstance(n, ast.Import) for a in n.names}
    assert not imported & {"keras", "tensorflow"}, imported
    assert "BytesList(value=[image_encode_png(value)])" in result.source  # .numpy() goes
    script = tmp_path / "converted.py"
    script.write_text(result.source, encoding="utf-8")
    env = {**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1", "IMAGE_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path, env=env, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "FITTED" in run.stdout
    assert (tmp_path / "train.tfrec").stat().st_size > 5 * 8 * 8 * 3


def test_message_classes_convert_only_where_they_are_built() -> None:
    source = textwrap.dedent('''\
        import tensorflow as tf


        def make(v):
            feature = tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))
            return tf.train.Example(features=tf.train.Features(feature={"v": feature}))


        def read(data):
            return tf.train.Example.FromString(data)
        ''')
    result = convert_source(source, "messages.py")
    assert "return Example(features=Features(feature={\"v\": feature}))" in result.source
    assert "return tf.train.Example.FromString(data)" in result.source  # no such runtime API
    assert [d.name for d in result.keras_deps] == ["tensorflow.train.Example.FromString"]
