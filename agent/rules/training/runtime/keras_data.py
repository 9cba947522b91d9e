"""NumPy/stdlib versions of Keras's data utilities, copied function by function into a
converted script that used them, so the script runs without TensorFlow or Keras.

Each function keeps the Keras 3 signature, defaults, download URL, cache location
(``~/.keras/datasets``, ``KERAS_HOME``) and return values. One deviation, for torch:
``to_categorical`` returns float32 (Keras 3 returns float64, Keras 2 float32).
Only stdlib, NumPy and torch at module level; Pillow is imported where images are read.
"""

import gzip
import hashlib
import json
import os
import pickle
import random
import tarfile
import urllib.parse
import urllib.request
import zipfile
from typing import Any

import numpy as np
import torch

KERAS_DATASETS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def get_file(fname: str | None = None, origin: str | None = None, untar: bool = False,
             md5_hash: str | None = None, file_hash: str | None = None,
             cache_subdir: str = "datasets", hash_algorithm: str = "auto",
             extract: bool = False, archive_format: str = "auto",
             cache_dir: str | None = None, force_download: bool = False) -> str:
    """keras.utils.get_file: download once into ~/.keras/<cache_subdir>, check the hash,
    extract archives next to it (Keras 3 layout: ``name_extracted``); returns the path."""
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    datadir = os.path.join(os.path.expanduser(cache_dir), cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    name = fname or os.path.basename(urllib.parse.urlsplit(origin).path)
    if extract or untar:
        if fname and "." in name:
            target = os.path.join(datadir, name)
            extracted = os.path.join(datadir, name[: name.find(".")] + "_extracted")
        else:
            target = os.path.join(datadir, name + "_archive")
            extracted = os.path.join(datadir, name)
    else:
        target = os.path.join(datadir, name)
    download = force_download or not os.path.exists(target)
    if not download and file_hash is not None:
        download = not _hash_matches(target, file_hash, hash_algorithm)
    if download:
        print(f"Downloading data from {origin}")
        try:
            urllib.request.urlretrieve(origin, target)
        except BaseException:
            if os.path.exists(target):
                os.remove(target)
            raise
        if file_hash is not None and not _hash_matches(target, file_hash, hash_algorithm):
            raise ValueError(f"Incomplete or corrupted file detected: {target}")
    if not (extract or untar):
        return target
    if untar or archive_format in ("auto", "tar") and tarfile.is_tarfile(target):
        with tarfile.open(target) as tar:
            tar.extractall(extracted)
    elif zipfile.is_zipfile(target):
        with zipfile.ZipFile(target) as archive:
            archive.extractall(extracted)
    return extracted


def _hash_matches(path: str, file_hash: str, algorithm: str) -> bool:
    sha = algorithm == "sha256" or (algorithm == "auto" and len(file_hash) == 64)
    hasher = hashlib.sha256() if sha else hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(65535), b""):
            hasher.update(chunk)
    return hasher.hexdigest() == str(file_hash)


def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray:
    """keras.utils.to_categorical: one-hot on a new last axis (a trailing size-1 axis is
    replaced), float32."""
    y = np.array(x, dtype="int64")
    shape = y.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    y = y.reshape(-1)
    n = int(num_classes) if num_classes else int(np.max(y)) + 1
    out = np.zeros((y.shape[0], n), dtype="float32")
    out[np.arange(y.shape[0]), y] = 1
    return out.reshape((*shape, n))


def pad_sequences(sequences: Any, maxlen: int | None = None, dtype: Any = "int32",
                  padding: str = "pre", truncating: str = "pre", value: Any = 0.0
                  ) -> np.ndarray:
    """keras.utils.pad_sequences: pads and truncates at the front by default."""
    lengths = [len(s) for s in sequences]
    sample_shape: tuple[int, ...] = ()
    for s in sequences:
        if len(s):
            sample_shape = np.asarray(s).shape[1:]
            break
    if maxlen is None:
        maxlen = int(np.max(lengths)) if lengths else 0
    out = np.full((len(sequences), maxlen, *sample_shape), value, dtype=dtype)
    for k, s in enumerate(sequences):
        if not len(s) or not maxlen:
            continue
        if truncating not in ("pre", "post") or padding not in ("pre", "post"):
            raise ValueError(f"padding/truncating must be 'pre' or 'post': {padding}, "
                             f"{truncating}")
        kept = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if padding == "post":
            out[k, : len(kept)] = kept
        else:
            out[k, -len(kept):] = kept
    return out


def make_sampling_table(size: int, sampling_factor: float = 1e-05) -> np.ndarray:
    """keras.preprocessing.sequence.make_sampling_table: the probability of keeping the word
    of each frequency rank (Zipf's law, word2vec's subsampling formula)."""
    rank = np.arange(size)
    rank[0] = 1
    inv_freq = rank * (np.log(rank) + 0.577) + 0.5 - 1.0 / (12.0 * rank)
    scaled = sampling_factor * inv_freq
    return np.asarray(np.minimum(1.0, scaled / np.sqrt(scaled)))


def skipgrams(sequence: Any, vocabulary_size: int, window_size: int = 4,
              negative_samples: float = 1.0, shuffle: bool = True, categorical: bool = False,
              sampling_table: Any = None, seed: int | None = None
              ) -> tuple[list[list[int]], list[Any]]:
    """keras.preprocessing.sequence.skipgrams: (word, neighbour) pairs labelled 1, then
    (word, random word) pairs labelled 0. Python's ``random`` is drawn in Keras's order, so
    a seeded script gets Keras's pairs; index 0 is a non-word."""
    couples: list[list[int]] = []
    labels: list[Any] = []
    for i, word in enumerate(sequence):
        if not word or (sampling_table is not None
                        and sampling_table[word] < random.random()):
            continue
        for j in range(max(0, i - window_size), min(len(sequence), i + window_size + 1)):
            if j != i and sequence[j]:
                couples.append([word, sequence[j]])
                labels.append([0, 1] if categorical else 1)
    if negative_samples > 0:
        count = int(len(labels) * negative_samples)
        words = [c[0] for c in couples]
        random.shuffle(words)
        couples += [[words[k % len(words)], random.randint(1, int(vocabulary_size - 1))]
                    for k in range(count)]
        labels += [[1, 0] if categorical else 0] * count
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(10e6))
        random.seed(seed)  # the same permutation for pairs and labels
        random.shuffle(couples)
        random.seed(seed)
        random.shuffle(labels)
    return couples, labels


def set_random_seed(seed: int) -> None:
    """keras.utils.set_random_seed: Python, NumPy and torch generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_img(path: Any, color_mode: str = "rgb", target_size: tuple[int, int] | None = None,
             interpolation: str = "nearest", keep_aspect_ratio: bool = False) -> Any:
    """keras.utils.load_img: a PIL image, resized with Keras's nearest default."""
    from PIL import Image

    with open(path, "rb") as f:
        img: Any = Image.open(f)
        img.load()
    modes = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}
    if color_mode not in modes:
        raise ValueError('color_mode must be "grayscale", "rgb", or "rgba"')
    if img.mode != modes[color_mode] and not (color_mode == "grayscale"
                                               and img.mode in ("I;16", "I")):
        img = img.convert(modes[color_mode])
    if target_size is not None and img.size != (target_size[1], target_size[0]):
        resample = getattr(Image.Resampling, interpolation.upper())
        size = (target_size[1], target_size[0])
        if keep_aspect_ratio:
            width, height = img.size
            crop_h = min(height, width * size[1] // size[0])
            crop_w = min(width, height * size[0] // size[1])
            top, left = (height - crop_h) // 2, (width - crop_w) // 2
            img = img.resize(size, resample, box=(left, top, left + crop_w, top + crop_h))
        else:
            img = img.resize(size, resample)
    return img


def img_to_array(img: Any, data_format: str | None = None, dtype: Any = "float32"
                 ) -> np.ndarray:
    """keras.utils.img_to_array: HWC float32 (channels_last, Keras's default)."""
    x = np.asarray(img, dtype=dtype)
    if x.ndim == 2:
        x = x.reshape((1, *x.shape)) if data_format == "channels_first" else x[..., None]
    elif data_format == "channels_first":
        x = x.transpose(2, 0, 1)
    return x


def array_to_img(x: Any, data_format: str | None = None, scale: bool = True,
                 dtype: Any = "float32") -> Any:
    """keras.utils.array_to_img: rescaled to 0..255 unless ``scale=False``."""
    from PIL import Image

    x = np.asarray(x, dtype=dtype)
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x = x / top
        x = x * 255
    modes = {4: "RGBA", 3: "RGB"}
    if x.shape[2] in modes:
        return Image.fromarray(x.astype("uint8"), modes[x.shape[2]])
    if np.max(x) > 255:
        return Image.fromarray(x[:, :, 0].astype("int32"), "I")
    return Image.fromarray(x[:, :, 0].astype("uint8"), "L")


def save_img(path: Any, x: Any, data_format: str | None = None,
             file_format: str | None = None, scale: bool = True, **kwargs: Any) -> None:
    """keras.utils.save_img."""
    if file_format is None and isinstance(path, str):
        file_format = os.path.splitext(path)[1][1:].lower() or None
    if file_format == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def load_mnist(path: str = "mnist.npz") -> tuple[tuple[np.ndarray, np.ndarray],
                                                 tuple[np.ndarray, np.ndarray]]:
    """keras.datasets.mnist.load_data: uint8 (n, 28, 28) images, uint8 labels."""
    local = get_file(path, origin=KERAS_DATASETS_URL + "mnist.npz", file_hash=(
        "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"))
    with np.load(local, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def load_fashion_mnist() -> tuple[tuple[np.ndarray, np.ndarray],
                                  tuple[np.ndarray, np.ndarray]]:
    """keras.datasets.fashion_mnist.load_data."""
    arrays = []
    for name in ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        local = get_file(name, origin=KERAS_DATASETS_URL + name,
                         cache_subdir=os.path.join("datasets", "fashion-mnist"))
        with gzip.open(local, "rb") as f:
            arrays.append(np.frombuffer(f.read(), np.uint8,
                                        offset=8 if "labels" in name else 16))
    y_train, x_train, y_test, x_test = arrays
    return ((x_train.reshape(len(y_train), 28, 28), y_train),
            (x_test.reshape(len(y_test), 28, 28), y_test))


def _cifar(name: str, origin: str, label_key: str, parts: list[str]
           ) -> tuple[np.ndarray, np.ndarray]:
    folder = get_file(name, origin=origin, extract=True)
    xs, ys = [], []
    for part in parts:
        with open(os.path.join(folder, name.replace("-target", ""), part), "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        xs.append(np.asarray(batch[b"data"], dtype="uint8").reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[label_key.encode()], dtype="uint8"))
    x, y = np.concatenate(xs), np.concatenate(ys)
    return x.transpose(0, 2, 3, 1), y.reshape(len(y), 1)  # channels_last, (n, 1) labels


def load_cifar10() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """keras.datasets.cifar10.load_data: uint8 (n, 32, 32, 3), labels (n, 1)."""
    origin = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    train = _cifar("cifar-10-batches-py-target", origin, "labels",
                   [f"data_batch_{k}" for k in range(1, 6)])
    return train, _cifar("cifar-10-batches-py-target", origin, "labels", ["test_batch"])


def load_cifar100(label_mode: str = "fine") -> tuple[tuple[np.ndarray, np.ndarray],
                                                     tuple[np.ndarray, np.ndarray]]:
    """keras.datasets.cifar100.load_data."""
    origin = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    key = f"{label_mode}_labels"
    return (_cifar("cifar-100-python-target", origin, key, ["train"]),
            _cifar("cifar-100-python-target", origin, key, ["test"]))


def _reindex(xs: list[Any], labels: np.ndarray, maxlen: int | None, start_char: int | None,
             index_from: int) -> tuple[list[list[int]], np.ndarray]:
    """Keras's IMDB/Reuters re-indexing: start mark, word offset, drop sequences >= maxlen."""
    if start_char is not None:
        seqs = [[start_char] + [int(w) + index_from for w in x] for x in xs]
    else:
        seqs = [[int(w) + index_from for w in x] for x in xs]
    if maxlen:
        kept = [k for k, s in enumerate(seqs) if len(s) < maxlen]
        seqs, labels = [seqs[k] for k in kept], labels[kept]
    return seqs, labels


def _vocabulary(seqs: list[list[int]], num_words: int | None, skip_top: int,
                oov_char: int | None) -> list[list[int]]:
    """Words outside [skip_top, num_words) become ``oov_char`` (or are dropped)."""
    top = num_words or max(max(s) for s in seqs)
    if oov_char is not None:
        return [[w if skip_top <= w < top else oov_char for w in s] for s in seqs]
    return [[w for w in s if skip_top <= w < top] for s in seqs]


def _object_array(seqs: list[list[int]]) -> np.ndarray:
    out = np.empty(len(seqs), dtype="object")
    out[:] = seqs
    return out


def load_imdb(path: str = "imdb.npz", num_words: int | None = None, skip_top: int = 0,
              maxlen: int | None = None, seed: int = 113, start_char: int | None = 1,
              oov_char: int | None = 2, index_from: int = 3
              ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """keras.datasets.imdb.load_data: shuffled with ``seed``, words re-indexed as Keras."""
    local = get_file(path, origin=KERAS_DATASETS_URL + "imdb.npz", file_hash=(
        "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"))
    with np.load(local, allow_pickle=True) as f:
        x_train, y_train, x_test, y_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    rng = np.random.RandomState(seed)
    order = np.arange(len(x_train))
    rng.shuffle(order)
    x_train, y_train = x_train[order], y_train[order]
    order = np.arange(len(x_test))
    rng.shuffle(order)
    x_test, y_test = x_test[order], y_test[order]
    train, y_train = _reindex(list(x_train), y_train, maxlen, start_char, index_from)
    test, y_test = _reindex(list(x_test), y_test, maxlen, start_char, index_from)
    seqs = _vocabulary(train + test, num_words, skip_top, oov_char)
    n = len(train)
    return (_object_array(seqs[:n]), y_train), (_object_array(seqs[n:]), y_test)


def load_reuters(path: str = "reuters.npz", num_words: int | None = None, skip_top: int = 0,
                 maxlen: int | None = None, test_split: float = 0.2, seed: int = 113,
                 start_char: int | None = 1, oov_char: int | None = 2, index_from: int = 3
                 ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """keras.datasets.reuters.load_data: the last ``test_split`` after a seeded shuffle."""
    local = get_file(path, origin=KERAS_DATASETS_URL + "reuters.npz", file_hash=(
        "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"))
    with np.load(local, allow_pickle=True) as f:
        xs, labels = f["x"], f["y"]
    order = np.arange(len(xs))
    np.random.RandomState(seed).shuffle(order)
    seqs, labels = _reindex(list(xs[order]), labels[order], maxlen, start_char, index_from)
    seqs = _vocabulary(seqs, num_words, skip_top, oov_char)
    n = int(len(seqs) * (1 - test_split))
    return ((_object_array(seqs[:n]), np.array(labels[:n])),
            (_object_array(seqs[n:]), np.array(labels[n:])))


def imdb_word_index(path: str = "imdb_word_index.json") -> dict[str, int]:
    """keras.datasets.imdb.get_word_index."""
    with open(get_file(path, origin=KERAS_DATASETS_URL + "imdb_word_index.json",
                       file_hash="bfafd718b763782e994055a2d397834f")) as f:
        return dict(json.load(f))


def reuters_word_index(path: str = "reuters_word_index.json") -> dict[str, int]:
    """keras.datasets.reuters.get_word_index."""
    with open(get_file(path, origin=KERAS_DATASETS_URL + "reuters_word_index.json",
                       file_hash="4d44cc38712099c9e383dc6e5f11a921")) as f:
        return dict(json.load(f))


def load_boston_housing(path: str = "boston_housing.npz", test_split: float = 0.2,
                        seed: int = 113) -> tuple[tuple[np.ndarray, np.ndarray],
                                                  tuple[np.ndarray, np.ndarray]]:
    """keras.datasets.boston_housing.load_data."""
    local = get_file(path, origin=KERAS_DATASETS_URL + "boston_housing.npz", file_hash=(
        "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"))
    with np.load(local, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    n = int(len(x) * (1 - test_split))
    return (x[:n], y[:n]), (x[n:], y[n:])
