"""Keras's directory/array data loaders in NumPy/torch, copied into a converted script.

``image_dataset_from_directory``, ``text_dataset_from_directory`` and
``timeseries_dataset_from_array`` return ``DataPipeline`` objects (data_pipeline.py) built
the way Keras builds its tf.data pipeline: the same file index (sorted class directories,
sorted files, ``np.random.RandomState(seed)`` shuffle, the same validation split), a
``batch_size * 8`` shuffle buffer, then batches. Batches are channels-last float32 images
(uint8 for ``interpolation="nearest"``, as ``tf.image.resize``), int32/float32 labels, and
NumPy string arrays for text. Images are read with Pillow; bilinear and nearest resizing
follow TF's half-pixel centres without antialiasing. ``ImageDataGenerator`` keeps Keras's
NumPy random stream (``np.random.seed(seed + batches seen)``), so ``flow`` and
``flow_from_directory`` yield the same augmented batches; its iterators are map-style torch
datasets whose items are whole batches (``DataLoader(batch_size=None)``).
No ``__future__`` import: the code is inlined into scripts that may not have one.
"""

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .data_pipeline import DataPipeline
from .keras_data import img_to_array, load_img

IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
GENERATOR_FORMATS = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")


class FileDataset(DataPipeline):
    """A loader's pipeline with the attributes Keras sets (``class_names``, ``file_paths``);
    chained methods return plain pipelines, as tf.data's do."""

    def __init__(self, pipe: DataPipeline, class_names: list[str] | None,
                 file_paths: list[str]) -> None:
        super().__init__(pipe.make, pipe.length)
        self.class_names = class_names
        self.file_paths = file_paths


def _check_split(validation_split: float | None, subset: str | None, shuffle: bool,
                 seed: int | None) -> None:
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: "
                         f"{validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'`subset` must be "training", "validation" or "both", '
                         f"received: {subset}")
    if validation_split and shuffle and seed is None:
        raise ValueError("If using `validation_split` and shuffling the data, you must "
                         "provide a `seed` argument")


def _valid_files(directory: str, follow_links: bool, formats: tuple[str, ...]
                 ) -> Iterator[tuple[str, str]]:
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links),
                                 key=lambda x: x[0]):
        for fname in sorted(files):
            if fname.lower().endswith(formats):
                yield root, fname


def index_directory(directory: str, labels: Any, formats: tuple[str, ...],
                    class_names: list[str] | None, shuffle: bool, seed: int | None,
                    follow_links: bool) -> tuple[list[str], Any, list[str] | None]:
    """Keras's file index: (file paths, labels, class names), shuffled by ``seed``."""
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(subdirs):
                raise ValueError(f"The `class_names` passed did not match the names of the "
                                 f"subdirectories: {subdirs}, received {class_names}")
            subdirs = list(class_names)
    else:
        subdirs = [""]
        if class_names is not None:
            raise ValueError("`class_names` is only valid with labels='inferred'")
    filenames: list[str] = []
    found: list[int] = []
    for k, subdir in enumerate(subdirs):
        path = os.path.join(directory, subdir)
        dirname = os.path.basename(path)
        for root, fname in _valid_files(path, follow_links, formats):
            found.append(k)
            filenames.append(os.path.join(dirname, os.path.relpath(os.path.join(root, fname),
                                                                   path)))
    names: list[str] | None = list(subdirs)
    out_labels: Any
    if labels == "inferred":
        out_labels = np.asarray(found, dtype="int32")
    elif labels is None:
        out_labels, names = None, None
    else:
        if len(labels) != len(filenames):
            raise ValueError(f"Expected the lengths of `labels` to match the number of files "
                             f"in the target directory: {len(labels)} != {len(filenames)}")
        out_labels = labels
        names = [str(label) for label in sorted(set(labels))]
    paths = [os.path.join(directory, f) for f in filenames]
    print(f"Found {len(paths)} files" + (f" belonging to {len(names)} classes."
                                         if names is not None else "."))
    if shuffle:
        if seed is None:
            seed = np.random.randint(1_000_000)
        np.random.RandomState(seed).shuffle(paths)
        if out_labels is not None:
            np.random.RandomState(seed).shuffle(out_labels)
    return paths, out_labels, names


def _split(paths: list[str], labels: Any, validation_split: float | None, subset: str | None
           ) -> tuple[list[str], Any]:
    if not validation_split:
        return paths, labels
    n = int(validation_split * len(paths))
    if subset == "training":
        return paths[:-n], None if labels is None else labels[:-n]
    return paths[-n:], None if labels is None else labels[-n:]


def _label(value: Any, label_mode: str, num_classes: int) -> torch.Tensor:
    if label_mode == "binary":
        return torch.tensor([float(value)], dtype=torch.float32)
    if label_mode == "categorical":
        return F.one_hot(torch.tensor(int(value)), num_classes).to(torch.float32)
    return torch.tensor(int(value), dtype=torch.int32)


def _file_pipeline(paths: list[str], labels: Any, label_mode: str | None, num_classes: int,
                   load: Callable[[str], Any], shuffle: bool, buffer: int, seed: int | None,
                   batch_size: int | None) -> DataPipeline:
    """Keras's pipeline over files: (path, label) pairs, a shuffle buffer, load, batch."""
    if label_mode:
        pairs = [(p, _label(v, label_mode, num_classes)) for p, v in zip(paths, labels,
                                                                         strict=True)]
        pipe = DataPipeline(lambda: iter(pairs), len(pairs))
    else:
        pipe = DataPipeline(lambda: iter(paths), len(paths))
    if shuffle:
        pipe = pipe.shuffle(buffer, seed=seed)
    pipe = pipe.map(lambda p, y: (load(p), y)) if label_mode else pipe.map(load)
    return pipe.batch(batch_size) if batch_size is not None else pipe


def _from_directory(directory: str, labels: Any, label_mode: str | None,
                    class_names: list[str] | None, formats: tuple[str, ...],
                    load: Callable[[str], Any], batch_size: int | None, shuffle: bool,
                    seed: int | None, validation_split: float | None, subset: str | None,
                    follow_links: bool) -> Any:
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f"`label_mode` must be one of 'int', 'categorical', 'binary' or "
                         f"None, received: {label_mode}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    _check_split(validation_split, subset, shuffle, seed)
    if seed is None:
        seed = np.random.randint(1_000_000)
    paths, found, names = index_directory(directory, labels, formats, class_names, shuffle,
                                          seed, follow_links)
    if label_mode == "binary" and len(names or ()) != 2:
        raise ValueError(f'label_mode="binary" needs exactly 2 classes, found {names}')
    buffer = batch_size * 8 if batch_size is not None else 1024
    num_classes = len(names) if names else 0
    parts = [("training", shuffle), ("validation", False)] if subset == "both" \
        else [(subset, shuffle)]
    out = []
    for part, mix in parts:
        files, part_labels = _split(paths, found, validation_split, part)
        if not files:
            raise ValueError(f"No files found in directory {directory} (formats {formats})")
        pipe = _file_pipeline(files, part_labels, label_mode, num_classes, load, mix, buffer,
                              seed, batch_size)
        out.append(FileDataset(pipe, names, files))
    return out if subset == "both" else out[0]


def _decode_image(path: str, channels: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        img.seek(0)  # animated GIFs: the first frame, as expand_animations=False
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
        pixels = np.array(img.convert(mode), dtype=np.uint8)
    return pixels.reshape(pixels.shape[0], pixels.shape[1], channels)


def _resize(img: np.ndarray, size: tuple[int, int], interpolation: str) -> torch.Tensor:
    """tf.image.resize: half-pixel centres, no antialias; float32 (nearest: the input dtype)."""
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    if interpolation == "nearest":
        out = F.interpolate(x, size=size, mode="nearest-exact")
    else:
        out = F.interpolate(x.to(torch.float32), size=size, mode="bilinear",
                            align_corners=False, antialias=False)
    return out[0].permute(1, 2, 0).contiguous()


def image_dataset_from_directory(directory: str, labels: Any = "inferred",
                                 label_mode: str | None = "int",
                                 class_names: list[str] | None = None,
                                 color_mode: str = "rgb", batch_size: int | None = 32,
                                 image_size: tuple[int, int] = (256, 256),
                                 shuffle: bool = True, seed: int | None = None,
                                 validation_split: float | None = None,
                                 subset: str | None = None, interpolation: str = "bilinear",
                                 follow_links: bool = False,
                                 crop_to_aspect_ratio: bool = False,
                                 pad_to_aspect_ratio: bool = False,
                                 data_format: str | None = None, format: str = "tf",
                                 verbose: bool = True) -> Any:
    """keras.utils.image_dataset_from_directory: batches of (images, labels)."""
    channels = {"rgb": 3, "rgba": 4, "grayscale": 1}.get(color_mode)
    if channels is None:
        raise ValueError(f'`color_mode` must be "rgb", "rgba" or "grayscale", '
                         f"received: {color_mode}")
    if interpolation not in ("bilinear", "nearest") or crop_to_aspect_ratio \
            or pad_to_aspect_ratio:
        raise NotImplementedError("only bilinear/nearest resizing without cropping or "
                                  "padding is converted")
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    first = data_format == "channels_first"

    def load(path: str) -> torch.Tensor:
        img = _resize(_decode_image(path, channels), (size[0], size[1]), interpolation)
        return img.permute(2, 0, 1) if first else img
    return _from_directory(directory, labels, label_mode, class_names, IMAGE_FORMATS, load,
                           batch_size, shuffle, seed, validation_split, subset, follow_links)


def text_dataset_from_directory(directory: str, labels: Any = "inferred",
                                label_mode: str | None = "int",
                                class_names: list[str] | None = None,
                                batch_size: int | None = 32, max_length: int | None = None,
                                shuffle: bool = True, seed: int | None = None,
                                validation_split: float | None = None,
                                subset: str | None = None, follow_links: bool = False,
                                format: str = "tf", verbose: bool = True) -> Any:
    """keras.utils.text_dataset_from_directory: batches of (texts, labels); texts are a
    NumPy array of str (tf.data gives bytes), cut at ``max_length`` bytes as tf.strings.substr."""

    def load(path: str) -> str:
        with open(path, "rb") as f:
            data = f.read()
        if max_length is not None:
            data = data[:max_length]
        return data.decode("utf-8", errors="replace")
    return _from_directory(directory, labels, label_mode, class_names, (".txt",), load,
                           batch_size, shuffle, seed, validation_split, subset, follow_links)


def timeseries_dataset_from_array(data: Any, targets: Any, sequence_length: int,
                                  sequence_stride: int = 1, sampling_rate: int = 1,
                                  batch_size: int | None = 128, shuffle: bool = False,
                                  seed: int | None = None, start_index: int | None = None,
                                  end_index: int | None = None, format: str = "tf"
                                  ) -> DataPipeline:
    """keras.utils.timeseries_dataset_from_array: windows ``data[p : p + sequence_length *
    sampling_rate : sampling_rate]`` with target ``targets[p]`` (from ``start_index``)."""
    n = len(data)
    if start_index and not 0 <= start_index < n:
        raise ValueError(f"`start_index` must be in [0, {n}), received {start_index}")
    if end_index and (end_index >= n or end_index <= 0
                      or (start_index and end_index <= start_index)):
        raise ValueError(f"`end_index` must be in ({start_index or 0}, {n}), "
                         f"received {end_index}")
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if not 0 < value < n:
            raise ValueError(f"`{name}` must be in (0, {n}), received {value}")
    start = start_index or 0
    end = end_index if end_index is not None else n
    num_seqs = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    positions = np.arange(0, num_seqs, sequence_stride,
                          dtype="int32" if num_seqs < 2147483647 else "int64")
    if shuffle:
        if seed is None:
            seed = np.random.randint(1_000_000)
        np.random.RandomState(seed).shuffle(positions)
    steps = np.asarray(data)[start:end]
    window = np.arange(0, sequence_length * sampling_rate, sampling_rate)
    goals = None if targets is None else np.asarray(targets)[start:end]

    def make() -> Iterator[Any]:
        for p in positions:
            x = steps[p + window]
            yield x if goals is None else (x, goals[p])
    pipe = DataPipeline(make, len(positions)).map(lambda *e: e[0] if len(e) == 1 else e)
    if shuffle:
        pipe = pipe.shuffle(batch_size * 8 if batch_size is not None else 1024, seed=seed)
    return pipe.batch(batch_size) if batch_size is not None else pipe


# ---- ImageDataGenerator ---------------------------------------------------------------


def _affine_sample(channel: np.ndarray, matrix: np.ndarray, offset: np.ndarray,
                   fill_mode: str, cval: float) -> np.ndarray:
    """scipy.ndimage.affine_transform with order=1: input coords = matrix @ out + offset."""
    h, w = channel.shape
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                             indexing="ij")
    r = matrix[0, 0] * rows + matrix[0, 1] * cols + offset[0]
    c = matrix[1, 0] * rows + matrix[1, 1] * cols + offset[1]
    r0, c0 = np.floor(r), np.floor(c)
    fr, fc = r - r0, c - c0

    def fix(k: np.ndarray, size: int) -> np.ndarray:
        if fill_mode == "reflect":
            k = np.mod(k, 2 * size)
            k = np.where(k >= size, 2 * size - 1 - k, k)
        fixed: np.ndarray = np.clip(k, 0, size - 1).astype(np.int64)
        return fixed
    r0i, r1i = fix(r0, h), fix(r0 + 1, h)
    c0i, c1i = fix(c0, w), fix(c0 + 1, w)
    src = channel.astype(np.float64)
    out = (src[r0i, c0i] * (1 - fr) * (1 - fc) + src[r0i, c1i] * (1 - fr) * fc
           + src[r1i, c0i] * fr * (1 - fc) + src[r1i, c1i] * fr * fc)
    if fill_mode == "constant":
        outside = (r < 0) | (r > h - 1) | (c < 0) | (c > w - 1)
        out = np.where(outside, cval, out)
    result: np.ndarray = out.astype(channel.dtype)
    return result


def apply_affine_transform(x: np.ndarray, theta: float = 0, tx: float = 0, ty: float = 0,
                           shear: float = 0, zx: float = 1, zy: float = 1, row_axis: int = 0,
                           col_axis: int = 1, channel_axis: int = 2,
                           fill_mode: str = "nearest", cval: float = 0.0) -> np.ndarray:
    """Keras's rotation/shift/shear/zoom of one image, the matrix composed as Keras does."""
    if fill_mode not in ("nearest", "constant", "reflect"):
        raise NotImplementedError(f"fill_mode={fill_mode!r} is not converted")
    matrix = np.eye(3)
    moved = False
    if theta != 0:
        t = np.deg2rad(theta)
        matrix = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
        moved = True
    if tx != 0 or ty != 0:
        matrix, moved = matrix @ np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]]), True
    if shear != 0:
        s = np.deg2rad(shear)
        matrix, moved = matrix @ np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0],
                                           [0, 0, 1]]), True
    if zx != 1 or zy != 1:
        matrix, moved = matrix @ np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]]), True
    if not moved:
        return x
    h, w = x.shape[row_axis], x.shape[col_axis]
    o_x, o_y = float(h) / 2 - 0.5, float(w) / 2 - 0.5
    matrix = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]]) @ matrix @ np.array(
        [[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    planes = np.moveaxis(x, channel_axis, 0)
    if col_axis > row_axis:
        matrix[:, [0, 1]] = matrix[:, [1, 0]]
        matrix[[0, 1]] = matrix[[1, 0]]
    out = np.stack([_affine_sample(p, matrix[:2, :2], matrix[:2, 2], fill_mode, cval)
                    for p in planes], axis=0)
    return np.moveaxis(out, 0, channel_axis)


class ImageDataGenerator:
    """keras.preprocessing.image.ImageDataGenerator: the same augmentation arguments and
    defaults, random draws and order (transform, then ``standardize``)."""

    def __init__(self, featurewise_center: bool = False, samplewise_center: bool = False,
                 featurewise_std_normalization: bool = False,
                 samplewise_std_normalization: bool = False, zca_whitening: bool = False,
                 zca_epsilon: float = 1e-6, rotation_range: float = 0,
                 width_shift_range: Any = 0.0, height_shift_range: Any = 0.0,
                 brightness_range: Any = None, shear_range: float = 0.0,
                 zoom_range: Any = 0.0, channel_shift_range: float = 0.0,
                 fill_mode: str = "nearest", cval: float = 0.0,
                 horizontal_flip: bool = False, vertical_flip: bool = False,
                 rescale: float | None = None,
                 preprocessing_function: Callable[[np.ndarray], np.ndarray] | None = None,
                 data_format: str | None = None, validation_split: float = 0.0,
                 interpolation_order: int = 1, dtype: str | None = None) -> None:
        if featurewise_center or featurewise_std_normalization or zca_whitening \
                or channel_shift_range or brightness_range is not None \
                or interpolation_order != 1:
            raise NotImplementedError("featurewise/ZCA statistics, channel and brightness "
                                      "shifts and interpolation_order != 1 are not converted")
        self.samplewise_center = samplewise_center or samplewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.rotation_range = rotation_range
        self.width_shift_range = width_shift_range
        self.height_shift_range = height_shift_range
        self.shear_range = shear_range
        if isinstance(zoom_range, (float, int)):
            self.zoom_range = [1 - zoom_range, 1 + zoom_range]
        else:
            self.zoom_range = [zoom_range[0], zoom_range[1]]
        self.fill_mode = fill_mode
        self.cval = cval
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.data_format = data_format or "channels_last"
        self.dtype = dtype or "float32"
        self.row_axis, self.col_axis, self.channel_axis = (
            (1, 2, 3) if self.data_format == "channels_last" else (2, 3, 1))
        if validation_split and not 0 < validation_split < 1:
            raise ValueError(f"`validation_split` must be strictly between 0 and 1, received "
                             f"{validation_split}")
        self._validation_split = validation_split

    def _shift(self, value: Any, size: int) -> float:
        try:
            shift = np.random.choice(value)
            shift *= np.random.choice([-1, 1])
        except ValueError:
            shift = np.random.uniform(-value, value)
        return float(shift * size if np.max(value) < 1 else shift)

    def get_random_transform(self, img_shape: tuple[int, ...], seed: int | None = None
                             ) -> dict[str, Any]:
        if seed is not None:
            np.random.seed(seed)
        theta = np.random.uniform(-self.rotation_range, self.rotation_range) \
            if self.rotation_range else 0
        tx = self._shift(self.height_shift_range, img_shape[self.row_axis - 1]) \
            if self.height_shift_range else 0
        ty = self._shift(self.width_shift_range, img_shape[self.col_axis - 1]) \
            if self.width_shift_range else 0
        shear = np.random.uniform(-self.shear_range, self.shear_range) if self.shear_range \
            else 0
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx, zy = 1.0, 1.0
        else:
            zx, zy = np.random.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        flip_h = (np.random.random() < 0.5) * self.horizontal_flip
        flip_v = (np.random.random() < 0.5) * self.vertical_flip
        return {"theta": theta, "tx": tx, "ty": ty, "shear": shear, "zx": zx, "zy": zy,
                "flip_horizontal": flip_h, "flip_vertical": flip_v}

    def apply_transform(self, x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        rows, cols = self.row_axis - 1, self.col_axis - 1
        x = apply_affine_transform(x, params.get("theta", 0), params.get("tx", 0),
                                   params.get("ty", 0), params.get("shear", 0),
                                   params.get("zx", 1), params.get("zy", 1), rows, cols,
                                   self.channel_axis - 1, self.fill_mode, self.cval)
        if params.get("flip_horizontal", False):
            x = np.flip(x, cols)
        if params.get("flip_vertical", False):
            x = np.flip(x, rows)
        return x

    def standardize(self, x: np.ndarray) -> np.ndarray:
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        if self.rescale:
            x = x * np.asarray(self.rescale, dtype=x.dtype)
        if self.samplewise_center:
            x = x - np.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x = x / (np.std(x, keepdims=True) + 1e-6)
        return x

    def fit(self, x: Any, augment: bool = False, rounds: int = 1, seed: int | None = None
            ) -> None:
        """Keras fits featurewise/ZCA statistics here; without them (the only converted
        configurations) it changes nothing."""

    def random_transform(self, x: np.ndarray, seed: int | None = None) -> np.ndarray:
        return self.apply_transform(x, self.get_random_transform(x.shape, seed))

    def flow(self, x: Any, y: Any = None, batch_size: int = 32, shuffle: bool = True,
             sample_weight: Any = None, seed: int | None = None, save_to_dir: Any = None,
             save_prefix: str = "", save_format: str = "png", ignore_class_split: bool = False,
             subset: str | None = None) -> "ArrayBatches":
        return ArrayBatches(x, y, self, batch_size, shuffle, sample_weight, seed, subset,
                            ignore_class_split)

    def flow_from_directory(self, directory: str, target_size: tuple[int, int] = (256, 256),
                            color_mode: str = "rgb", classes: list[str] | None = None,
                            class_mode: str | None = "categorical", batch_size: int = 32,
                            shuffle: bool = True, seed: int | None = None,
                            save_to_dir: Any = None, save_prefix: str = "",
                            save_format: str = "png", follow_links: bool = False,
                            subset: str | None = None, interpolation: str = "nearest",
                            keep_aspect_ratio: bool = False) -> "DirectoryBatches":
        return DirectoryBatches(directory, self, tuple(target_size), color_mode, classes,
                                class_mode, batch_size, shuffle, seed, follow_links, subset,
                                interpolation, keep_aspect_ratio)


class GeneratorBatches(Dataset):  # type: ignore[type-arg]
    """Keras's legacy image Iterator: item ``k`` is batch ``k``; the NumPy seed is
    ``seed + batches seen``, the order reshuffled at each epoch's end."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int | None) -> None:
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.batch_index = 0
        self.total_batches_seen = 0
        self.served = 0  # batches served this epoch: Keras's on_epoch_end after len(self)
        self.index_array: np.ndarray | None = None

    def _set_index_array(self) -> None:
        self.index_array = np.random.permutation(self.n) if self.shuffle \
            else np.arange(self.n)

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def __getitem__(self, idx: int) -> Any:
        if idx >= len(self):
            raise IndexError(f"batch {idx} of a loader of {len(self)} batches")
        if self.served == len(self):  # Lightning calls no on_epoch_end: a new epoch starts
            self.on_epoch_end()
        self.served += 1
        if self.seed is not None:
            np.random.seed(self.seed + self.total_batches_seen)
        self.total_batches_seen += 1
        if self.index_array is None:
            self._set_index_array()
        assert self.index_array is not None
        return self._batch(self.index_array[self.batch_size * idx:self.batch_size * (idx + 1)])

    def on_epoch_end(self) -> None:
        self._set_index_array()
        self.served = 0

    def __iter__(self) -> Iterator[Any]:
        """Endless, as Keras's ``next(iterator)``."""
        while True:
            if self.seed is not None:
                np.random.seed(self.seed + self.total_batches_seen)
            if self.batch_index == 0:
                self._set_index_array()
            assert self.index_array is not None
            current = (self.batch_index * self.batch_size) % self.n if self.n else 0
            self.batch_index = self.batch_index + 1 if self.n > current + self.batch_size else 0
            self.total_batches_seen += 1
            yield self._batch(self.index_array[current:current + self.batch_size])

    def _batch(self, index_array: np.ndarray) -> Any:
        raise NotImplementedError


class ArrayBatches(GeneratorBatches):
    """``ImageDataGenerator.flow``: batches of (x, y[, sample_weight]) as torch tensors."""

    def __init__(self, x: Any, y: Any, generator: ImageDataGenerator, batch_size: int,
                 shuffle: bool, sample_weight: Any, seed: int | None, subset: str | None,
                 ignore_class_split: bool) -> None:
        x = np.asarray(x)
        if subset is not None:
            if subset not in ("training", "validation"):
                raise ValueError(f'Invalid subset name: {subset}; expected "training" or '
                                 '"validation".')
            cut = int(len(x) * generator._validation_split)
            if y is not None and not ignore_class_split and not np.array_equal(
                    np.unique(np.asarray(y)[:cut]), np.unique(np.asarray(y)[cut:])):
                raise ValueError("Training and validation subsets have different number of "
                                 "classes after the split.")
            part = slice(None, cut) if subset == "validation" else slice(cut, None)
            x = x[part]
            y = None if y is None else np.asarray(y)[part]
            sample_weight = None if sample_weight is None else np.asarray(sample_weight)[part]
        self.x = np.asarray(x, dtype=generator.dtype)
        if self.x.ndim != 4:
            raise ValueError(f"Input data in `NumpyArrayIterator` should have rank 4, got "
                             f"shape {self.x.shape}")
        self.y = None if y is None else np.asarray(y)
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        self.generator = generator
        super().__init__(self.x.shape[0], batch_size, shuffle, seed)

    def _batch(self, index_array: np.ndarray) -> Any:
        g = self.generator
        batch = np.zeros((len(index_array), *self.x.shape[1:]), dtype=g.dtype)
        for i, j in enumerate(index_array):
            x = self.x[j]
            x = g.apply_transform(x.astype(g.dtype), g.get_random_transform(x.shape))
            batch[i] = g.standardize(x)
        out: tuple[Any, ...] = (torch.from_numpy(batch),)
        if self.y is None:
            return out[0]
        out += (torch.as_tensor(self.y[index_array]),)
        if self.sample_weight is not None:
            out += (torch.as_tensor(self.sample_weight[index_array]),)
        return out


class DirectoryBatches(GeneratorBatches):
    """``ImageDataGenerator.flow_from_directory``: images read with Keras's ``load_img``
    (nearest by default), ``class_indices``/``classes``/``filenames`` as Keras has them."""

    def __init__(self, directory: str, generator: ImageDataGenerator,
                 target_size: tuple[int, ...], color_mode: str, classes: list[str] | None,
                 class_mode: str | None, batch_size: int, shuffle: bool, seed: int | None,
                 follow_links: bool, subset: str | None, interpolation: str,
                 keep_aspect_ratio: bool) -> None:
        if class_mode not in ("categorical", "binary", "sparse", "input", None):
            raise ValueError(f"Invalid class_mode: {class_mode}")
        channels = {"rgb": 3, "rgba": 4, "grayscale": 1}.get(color_mode)
        if channels is None:
            raise ValueError(f"Invalid color mode: {color_mode}")
        split: tuple[float, float] | None = None
        if subset is not None:
            if subset not in ("training", "validation"):
                raise ValueError(f"Invalid subset name: {subset}")
            v = generator._validation_split
            split = (0, v) if subset == "validation" else (v, 1)
        self.generator, self.directory = generator, directory
        self.target_size = (int(target_size[0]), int(target_size[1]))
        self.color_mode, self.class_mode = color_mode, class_mode
        self.interpolation, self.keep_aspect_ratio = interpolation, keep_aspect_ratio
        shape = (*self.target_size, channels)
        self.image_shape = shape if generator.data_format == "channels_last" \
            else (channels, *self.target_size)
        if not classes:
            classes = [d for d in sorted(os.listdir(directory))
                       if os.path.isdir(os.path.join(directory, d))]
        self.num_classes = len(classes)
        self.class_indices = dict(zip(classes, range(len(classes)), strict=True))
        self.filenames: list[str] = []
        labels: list[int] = []
        for name in classes:
            path = os.path.join(directory, name)
            files = list(_valid_files(path, follow_links, tuple("." + f for f in
                                                                 GENERATOR_FORMATS)))
            if split is not None:
                files = files[int(split[0] * len(files)):int(split[1] * len(files))]
            for root, fname in files:
                labels.append(self.class_indices[name])
                self.filenames.append(os.path.join(name, os.path.relpath(
                    os.path.join(root, fname), path)))
        self.samples = len(self.filenames)
        self.classes = np.asarray(labels, dtype="int32")
        self.filepaths = [os.path.join(directory, f) for f in self.filenames]
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        super().__init__(self.samples, batch_size, shuffle, seed)

    def _batch(self, index_array: np.ndarray) -> Any:
        g = self.generator
        batch = np.zeros((len(index_array), *self.image_shape), dtype=g.dtype)
        for i, j in enumerate(index_array):
            img = load_img(self.filepaths[j], color_mode=self.color_mode,
                           target_size=self.target_size, interpolation=self.interpolation,
                           keep_aspect_ratio=self.keep_aspect_ratio)
            x = img_to_array(img, data_format=g.data_format)
            x = g.apply_transform(x, g.get_random_transform(x.shape))
            batch[i] = g.standardize(x)
        images = torch.from_numpy(batch)
        if self.class_mode is None:
            return images
        if self.class_mode == "input":
            return images, images.clone()
        labels = self.classes[index_array]
        if self.class_mode == "categorical":
            y = np.zeros((len(batch), self.num_classes), dtype=g.dtype)
            y[np.arange(len(batch)), labels] = 1.0
            return images, torch.from_numpy(y)
        return images, torch.from_numpy(labels.astype(g.dtype))
