"""Whole decoder layers measured on a lent H200 and H100 against the GPU model (nothing fitted).

The GPU model's efficiencies are fitted on single kernels (gpu_calibration.py). The layers in
data/h200_decoder_layers.json were measured later, on a lent H200, by
benchmarks/device/measure_decoder_layers.py: every model preset's decode layer (one GPU's
tensor-parallel share for 70B/72B) at batch 1-64 and KV 1K-32K, as eager PyTorch (about 30
kernels per layer, element-wise work unfused), the same layer's weight GEMMs alone, the layer
without its attention call, a few layers with the element-wise work fused by torch.compile (12
kernels, close to a serving stack's fused norm / rotary / SiLU-and-multiply), and prefill
layers. The model assumes the fused stack, so the checks compare:

- FC: the four weight GEMMs in sequence vs the model's qkv + out_proj + ffn;
- attention: (layer - layer without attention) vs the model's decode attention;
- fused layer: the torch.compile'd layer vs the model's layer (all parts but communication);
- prefill: the eager prefill layer vs the model's prefill layer; from the second file
  (data/h200_prefill_parts.json) the prefill GEMMs alone and two torch.compile'd prefill layers
  per model (Llama-2 7B, Llama-3.1-70B TP4 share). Prefill attention alone is in that file too;
  it calibrates the model (gpu_calibration.py), so it is not compared here;
- whole model (H200 only, data/h200_whole_model.json): one decode step of Llama-2-7B and
  Llama-3.1-8B (embedding gather, 32 fused layers, final norm, LM head) as one CUDA graph vs the
  model's whole step (gpu_decode_step_cost).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from lolpim.core.errors import ParameterError
from lolpim.hardware.gpu.model import GpuSpec, gpu_decode_layer_cost, gpu_decode_step_cost, gpu_prefill_cost
from lolpim.models.llm.architecture import load_llm

# GPU preset -> the measured files' prefix (an H100 was lent too: its rows test whether the
# H200-learned efficiencies carry over to another card with only the datasheet changed)
MEASURED = {"h200": "h200", "h100-sxm": "h100"}
FC_PARTS = ("qkv", "out_proj", "ffn")


@dataclass(frozen=True)
class LayerComparison:
    kind: str  # fc, attention, fused_layer, eager_layer, prefill_layer, prefill_fc, fused_prefill_layer, whole_model
    label: str
    measured_s: float
    predicted_s: float

    @property
    def error(self) -> float:
        return (self.predicted_s - self.measured_s) / self.measured_s


def load_layer_measurements(device: str = "h200") -> dict:
    """Both measured files' rows together, for the GPU preset ``device``."""
    if device not in MEASURED:
        raise ParameterError("device", f"no measured layers for {device!r}; measured: {', '.join(MEASURED)}")
    data = resources.files("lolpim.hardware.gpu").joinpath("data")
    layers = json.loads(data.joinpath(f"{MEASURED[device]}_decoder_layers.json").read_text())
    prefill = json.loads(data.joinpath(f"{MEASURED[device]}_prefill_parts.json").read_text())
    rows = layers["rows"] + prefill["rows"]
    whole = data.joinpath(f"{MEASURED[device]}_whole_model.json")   # measured on the H200 only
    if whole.is_file():
        rows += json.loads(whole.read_text())["rows"]
    return {**layers, "rows": rows}


def _decode_parts(spec: GpuSpec, row: dict) -> dict[str, float]:
    # the measured layer appends the new token, then attends over context + 1 tokens
    parts = gpu_decode_layer_cost(spec, load_llm(row["model"]), [row["context"] + 1] * row["batch"],
                                  n_gpus=row["tp"])
    return {name: cost.time_s for name, cost in parts.items()}


def _layer_time(parts: dict[str, float]) -> float:
    return sum(t for name, t in parts.items() if name != "communication")  # one GPU: no all-reduce


def compare_layers(spec: GpuSpec, data: dict | None = None) -> list[LayerComparison]:
    data = data or load_layer_measurements(spec.name)
    out = []
    for row in data["rows"]:
        label = f"{row['model']} tp{row['tp']} B={row['batch']} " + (
            f"P={row['prompt']}" if "prompt" in row else f"L={row['context']}")
        if row["kind"].startswith("prefill"):
            costs = gpu_prefill_cost(spec, load_llm(row["model"]), [row["prompt"]], n_gpus=row["tp"], layers=1)
            times = {n: c.time_s for n, c in costs.items()}
            if row["kind"] == "prefill":
                out.append(LayerComparison("prefill_layer", label, row["layer_s"], _layer_time(times)))
            elif row["kind"] == "prefill_parts":
                out.append(LayerComparison("prefill_fc", label, row["gemms_only_s"],
                                           sum(times[p] for p in FC_PARTS)))
            elif "layer_s" in row:
                out.append(LayerComparison("fused_prefill_layer", label, row["layer_s"], _layer_time(times)))
            continue
        if row["kind"] == "decode_whole_model":
            if "step_s" in row:
                step = gpu_decode_step_cost(spec, load_llm(row["model"]), [row["context"] + 1] * row["batch"])
                out.append(LayerComparison("whole_model", label, row["step_s"],
                                           sum(c.time_s for c in step.values())))
            continue
        if "layer_s" not in row:            # a torch.compile row that failed to build
            continue
        parts = _decode_parts(spec, row)
        if row["kind"] == "decode_compiled":
            out.append(LayerComparison("fused_layer", label, row["layer_s"], _layer_time(parts)))
            continue
        out.append(LayerComparison("eager_layer", label, row["layer_s"], _layer_time(parts)))
        out.append(LayerComparison("fc", label, row["gemms_only_s"], sum(parts[p] for p in FC_PARTS)))
        out.append(LayerComparison("attention", label, row["layer_s"] - row["no_attention_s"],
                                   parts["attention"]))
    return out
