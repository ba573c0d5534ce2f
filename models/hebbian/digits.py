"""Handwritten digits with a ternary Hebbian memory.

Data: scikit-learn's bundled ``load_digits`` (1797 images of 8x8 pixels, values 0..16)
with a fixed split (every 4th image is a test image: 449 test, 1348 train), or an MNIST
copy in IDX format read by ``read_idx``.

Encoding: each pixel becomes ``levels`` binary inputs, a thermometer code (input k fires
when the pixel exceeds k/(levels+1) of full scale), so a ternary synapse per input level
can express a graded preference for ink intensity.

Readout: every class has ``contacts`` output neurons ("synaptic contacts" of the class
unit), each learning one-vs-rest with the stop-learning margin; the class score is the
sum of its neurons' drives and the prediction is the class with the largest score.
Independent stochastic copies average out the noise of one snapshot of a Markov chain.
"""
from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lolpim.core import schema
from lolpim.core.errors import ParameterError
from lolpim.core.presets import parsing
from lolpim.models.hebbian.network import LayerConfig, TernaryLayer
from lolpim.models.hebbian.rule import TransitionRule

N_CLASSES = 10


@schema.frozen
class DigitsConfig:
    levels: int = schema.field(default=7, min=1)       # thermometer inputs per pixel
    contacts: int = schema.field(default=10, min=1)    # output neurons per class
    epochs: int = schema.field(default=10, min=1)
    p_potentiate: float = 0.01
    p_depress: float = 0.01
    margin: float = schema.field(default=4.0, min=0.0)  # stop-learning margin (in units of one synapse)

    def __post_init__(self):   # after the declared ranges
        TransitionRule(self.p_potentiate, self.p_depress)  # validates the probabilities


@dataclass(frozen=True)
class DigitsData:
    x_train: np.ndarray     # raw pixel values, (samples, pixels)
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    full_scale: float       # pixel value of full ink (16 for load_digits, 255 for MNIST)
    name: str


def load_sklearn_digits() -> DigitsData:
    """scikit-learn's bundled 8x8 digits; fixed split: image i is a test image iff i % 4 == 3."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # scikit-learn is the one place this data set ships
        raise ParameterError("dataset", "the digits task needs scikit-learn (pip install scikit-learn)") from exc
    bunch = load_digits()
    x, y = bunch.data.astype(np.float64), bunch.target.astype(np.int64)
    test = np.arange(len(y)) % 4 == 3
    return DigitsData(x[~test], y[~test], x[test], y[test], 16.0, "sklearn load_digits")


_IDX_TYPES: dict[int, npt.DTypeLike] = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
                                        0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (the MNIST format): magic 0x0000, type byte, rank byte, big-endian
    uint32 sizes, then the data. Gzipped files (.gz) are read too."""
    path = Path(path)
    with parsing(path, "--idx-dir", "IDX file (gzipped or not)"):
        return _read_idx(path)


def _read_idx(path: Path) -> np.ndarray:
    if path.suffix == ".gz":
        raw = gzip.decompress(path.read_bytes())
    else:
        raw = path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ParameterError("path", f"{path} is not an IDX file (bad magic number)")
    dtype, rank = _IDX_TYPES.get(raw[2]), raw[3]
    if dtype is None:
        raise ParameterError("path", f"{path}: unknown IDX element type 0x{raw[2]:02x}")
    header = 4 + 4 * rank
    shape = struct.unpack(f">{rank}I", raw[4:header])
    data = np.frombuffer(raw, dtype=dtype, offset=header)
    if data.size != int(np.prod(shape)):
        raise ParameterError("path", f"{path}: header says {shape}, file holds {data.size} elements")
    return data.reshape(shape).astype(np.dtype(dtype).newbyteorder("="))


def load_idx_digits(train_images, train_labels, test_images, test_labels) -> DigitsData:
    """A local MNIST copy (four IDX files, gzipped or not); images are flattened."""
    xtr, ytr = read_idx(train_images), read_idx(train_labels)
    xte, yte = read_idx(test_images), read_idx(test_labels)
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise ParameterError("labels", "image and label files hold different numbers of samples")
    for labels, path in ((ytr, train_labels), (yte, test_labels)):
        if labels.ndim != 1 or len(labels) == 0 or labels.min() < 0 or labels.max() >= N_CLASSES:
            raise ParameterError("--idx-dir", f"{path}: labels must be one digit 0..{N_CLASSES - 1} per sample")
    for images, path in ((xtr, train_images), (xte, test_images)):
        if not np.isfinite(images).all():
            raise ParameterError("--idx-dir", f"{path}: images hold NaN or infinite pixels")
    flat = lambda a: a.reshape(len(a), -1).astype(np.float64)
    return DigitsData(flat(xtr), ytr.astype(np.int64), flat(xte), yte.astype(np.int64), 255.0, "IDX files")


def thermometer(x: np.ndarray, levels: int, full_scale: float) -> np.ndarray:
    """Binary code: input (pixel, k) fires when pixel > full_scale * (k+1)/(levels+1)."""
    cuts = full_scale * np.arange(1, levels + 1) / (levels + 1)
    return np.concatenate([x > c for c in cuts], axis=1).astype(np.int8)


@dataclass
class DigitsResult:
    seed: int
    test_accuracy: float
    train_accuracy: float
    curve: list[dict]                       # per epoch: epoch, train/test accuracy, transitions
    transitions_per_sample: np.ndarray      # synapse state changes in each presentation
    counts: np.ndarray                      # 3x3 (from, to) transition counts, whole run
    layer: TernaryLayer = field(repr=False)


def class_scores(layer: TernaryLayer, codes: np.ndarray, contacts: int) -> np.ndarray:
    return layer.scores(codes).reshape(len(codes), N_CLASSES, contacts).sum(axis=2)


def train_digits(data: DigitsData, config: DigitsConfig = DigitsConfig(), seed: int = 0) -> DigitsResult:
    """Train one ternary layer from all-zero weights; evaluate after every epoch."""
    rng = np.random.default_rng(seed)
    x_train = thermometer(data.x_train, config.levels, data.full_scale)
    x_test = thermometer(data.x_test, config.levels, data.full_scale)
    n_out = N_CLASSES * config.contacts
    layer_config = LayerConfig(x_train.shape[1], n_out,
                               TransitionRule(config.p_potentiate, config.p_depress),
                               threshold=0.0, margin=config.margin)
    layer = TernaryLayer(layer_config)
    unit_class = np.repeat(np.arange(N_CLASSES), config.contacts)
    targets = (unit_class[None, :] == data.y_train[:, None]).astype(np.int8)

    def accuracy(codes, labels):
        return float((class_scores(layer, codes, config.contacts).argmax(axis=1) == labels).mean())

    def evaluate(epoch, current):
        return {"epoch": epoch + 1, "train_accuracy": accuracy(x_train, data.y_train),
                "test_accuracy": accuracy(x_test, data.y_test)}

    history = layer.fit(x_train, targets, rng, epochs=config.epochs, on_epoch=evaluate)
    n = len(x_train)
    for point, counts in zip(history.epoch_metrics, history.counts_per_epoch):
        point["transitions_per_sample"] = float(counts.sum() / n)
    last = history.epoch_metrics[-1]
    return DigitsResult(seed, last["test_accuracy"], last["train_accuracy"], history.epoch_metrics,
                        history.transitions_per_sample, np.sum(history.counts_per_epoch, axis=0), layer)
