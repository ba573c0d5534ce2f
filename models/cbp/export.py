"""Constrained weights as packed low-bit codes plus the layer scale.

A deployed layer stores, per weight, the index of its level (1 bit for binary, 2 for
ternary, 3 for either shift set) and one float for the scale a. Decoding is
``unit_levels[code] * a``, so every loaded weight is exactly an allowed value times a.
Codes are packed little-endian bit by bit, so any width from 1 to 8 bits works.
"""
from __future__ import annotations

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.core.schema import FieldProblem, field, frozen

from lolpim.models.cbp.levels import CONSTRAINTS, level_set


@frozen
class PackedLayer:
    name: str                                               # e.g. "layer1"
    constraint: str = field(choices=tuple(CONSTRAINTS))
    shape: tuple[int, ...] = field(min=0)                   # (k_in, n_out) for a dense layer
    scale: float = field(gt=0.0)                            # the layer's fixed scale a
    data: bytes                                             # packed codes

    def __post_init__(self):   # after the declared ranges
        levels = level_set(self.constraint)
        needed = -(-int(np.prod(self.shape)) * levels.weight_bits // 8)
        if len(self.data) != needed:
            raise FieldProblem("data", f"expected {needed} bytes for shape {self.shape} "
                                         f"at {levels.weight_bits} bits, got {len(self.data)}")

    @property
    def weight_bits(self) -> int:
        """Bits per weight: what the PIM hardware model charges for capacity and GEMV time."""
        return level_set(self.constraint).weight_bits

    @property
    def n_weights(self) -> int:
        return int(np.prod(self.shape))

    def codes(self) -> np.ndarray:
        bits = self.weight_bits
        flat = np.unpackbits(np.frombuffer(self.data, dtype=np.uint8), count=self.n_weights * bits,
                             bitorder="little").reshape(self.n_weights, bits)
        return (flat.astype(np.uint8) << np.arange(bits, dtype=np.uint8)).sum(axis=1).astype(np.uint8)

    def weights(self) -> np.ndarray:
        """Decoded weights: unit level times the scale, in the original shape."""
        levels = level_set(self.constraint).levels
        codes = self.codes()
        if codes.size and codes.max() >= levels.size:
            raise ParameterError("data", f"code {int(codes.max())} has no level in {self.constraint}")
        return (levels[codes] * self.scale).reshape(self.shape)


def pack_layer(name: str, weights: np.ndarray, constraint: str, scale: float) -> PackedLayer:
    """Pack weights (latent or already rounded) as nearest-level codes."""
    levels = level_set(constraint)
    codes = levels.codes(np.asarray(weights, dtype=float).ravel(), scale)
    bits = levels.weight_bits
    planes = (codes[:, None] >> np.arange(bits, dtype=np.uint8)) & 1
    data = np.packbits(planes.astype(np.uint8).ravel(), bitorder="little").tobytes()
    return PackedLayer(name, constraint, tuple(int(s) for s in np.shape(weights)), float(scale), data)


def to_arrays(layers: list[PackedLayer]) -> dict[str, np.ndarray]:
    """Flat name -> array mapping, ready for ``numpy.savez`` (the caller writes the file)."""
    out: dict[str, np.ndarray] = {"layer_names": np.array([layer.name for layer in layers])}
    for layer in layers:
        out[f"{layer.name}.codes"] = np.frombuffer(layer.data, dtype=np.uint8)
        out[f"{layer.name}.shape"] = np.array(layer.shape, dtype=np.int64)
        out[f"{layer.name}.scale"] = np.array(layer.scale)
        out[f"{layer.name}.constraint"] = np.array(layer.constraint)
    return out


def from_arrays(arrays) -> list[PackedLayer]:
    """Inverse of :func:`to_arrays`; accepts a dict or an open ``numpy.load`` archive."""
    return [PackedLayer(str(name), str(arrays[f"{name}.constraint"]),
                        tuple(int(s) for s in arrays[f"{name}.shape"]),
                        float(arrays[f"{name}.scale"]), arrays[f"{name}.codes"].tobytes())
            for name in arrays["layer_names"]]


def load_packed(path) -> list[PackedLayer]:
    """Read layers written with ``numpy.savez(path, **to_arrays(layers))``."""
    with np.load(path, allow_pickle=False) as archive:
        return from_arrays(archive)
