"""What fits in one PIM module: weights of its layers, reserved buffers, and the KV cache left over."""
from __future__ import annotations

from dataclasses import dataclass

from lolpim.hardware.pim.attention import _check_layers
from lolpim.hardware.pim.gemv import tile_shape
from lolpim.hardware.pim.spec import PimModuleSpec, check_weight_bits
from lolpim.models.llm.architecture import LlmConfig


@dataclass(frozen=True)
class PimCapacity:
    module: str
    model: str
    layers: int
    weight_bits: int
    capacity_bytes: int
    weight_bytes: int          # as laid out in the banks: rounded up to whole columns and slots
    buffer_bytes: int          # reserved per channel (activations, partial sums, command streams)
    kv_bytes_available: int    # what is left for the KV cache (negative: the weights do not fit)
    kv_bytes_per_token: int    # for these layers
    max_kv_tokens: int         # KV tokens (summed over requests) that fit

    @property
    def fits(self) -> bool:
        return self.kv_bytes_available > 0

    def fits_tokens(self, total_context_tokens: int) -> bool:
        return self.fits and total_context_tokens <= self.max_kv_tokens

    @property
    def explanation(self) -> str:
        gib = 2 ** 30
        head = (f"{self.module}: {self.capacity_bytes / gib:.2f} GiB = weights of {self.layers} layer(s) of "
                f"{self.model} at {self.weight_bits} bit {self.weight_bytes / gib:.2f} GiB + buffers "
                f"{self.buffer_bytes / gib:.2f} GiB + KV {self.kv_bytes_available / gib:.2f} GiB")
        if not self.fits:
            return head + f" -> does NOT fit: {-self.kv_bytes_available / gib:.2f} GiB short"
        return head + f" -> fits, room for {self.max_kv_tokens:,} KV tokens ({self.kv_bytes_per_token} B/token)"


def matrix_bytes_in_banks(spec: PimModuleSpec, k_in: int, n_out: int, weight_bits: int) -> int:
    """Bytes one (n_out x k_in) weight matrix occupies, laid out as the GEMV model reads it."""
    gb = spec.global_buffer_inputs
    full_tiles, k_last = divmod(k_in, gb)
    columns = 0
    if full_tiles:
        columns += full_tiles * int(tile_shape(spec, gb, weight_bits)[0])
    if k_last:
        columns += int(tile_shape(spec, k_last, weight_bits)[0])
    outputs_placed = -(-n_out // spec.banks) * spec.banks          # every bank holds as many outputs
    return outputs_placed * columns * spec.column_bytes


def module_capacity(spec: PimModuleSpec, model: LlmConfig, layers: int, weight_bits: int = 16) -> PimCapacity:
    """Capacity account of one module holding ``layers`` decoder layers of ``model``."""
    layers = _check_layers(layers, model)
    weight_bits = check_weight_bits(weight_bits)
    per_layer = sum(copies * matrix_bytes_in_banks(spec, k, n, weight_bits)
                    for k, n, copies in model.weight_matrices())
    weights = layers * per_layer
    buffers = spec.channels * spec.reserved_bytes_per_channel
    available = spec.capacity_bytes - weights - buffers
    per_token = layers * model.kv_bytes_per_token_per_layer()
    return PimCapacity(spec.name, model.name, layers, weight_bits, spec.capacity_bytes, weights, buffers,
                       available, per_token, max(available, 0) // per_token)
