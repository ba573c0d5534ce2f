"""CENT against GPUs in CENT's own setup (hardware/systems/presets/cent_setup.toml), from the
same hardware cost models the simulated systems use.

CENT's published ratios are averages over sequence positions 1..4096 of closed-form
per-token costs (its artifact computes throughput as stages / token latency), so this
study evaluates those same formulas over our cost models rather than running the event
simulation for 4096-token sequences; tests/system/test_llm_pipeline.py shows the event
simulation reproduces the pipeline formula.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from lolpim.hardware.systems.stage_costs import shard_model
from lolpim.hardware.cost import total
from lolpim.hardware.gpu.model import gpu_decode_step_cost, gpu_prefill_cost, load_gpu
from lolpim.hardware.links import allreduce_cost, load_link
from lolpim.hardware.pim import cent_dataflow as cd
from lolpim.hardware.pim import load_pim_module, pim_decode_layers_cost, pim_gemv_cost
from lolpim.models.llm.architecture import load_llm

SETUP_FILE = Path(__file__).parent / "presets" / "cent_setup.toml"


def load_setup() -> dict:
    with SETUP_FILE.open("rb") as fh:
        return tomllib.load(fh)


@dataclass(frozen=True)
class CentVsGpu:
    model: str
    cent_latency_s: float          # one query, batch 1, 512 + 3584 tokens
    gpu_latency_s: float
    cent_decode_tokens_per_s: float
    gpu_decode_tokens_per_s: float
    gpu_batch: int

    @property
    def latency_ratio(self) -> float:
        return self.gpu_latency_s / self.cent_latency_s

    @property
    def throughput_ratio(self) -> float:
        return self.cent_decode_tokens_per_s / self.gpu_decode_tokens_per_s


def _positions(setup, first: int, last: int) -> np.ndarray:
    stride = setup["position_stride"]
    return np.arange(first + stride // 2, last + 1, stride)


def cent_token_latency_s(model_name: str, context: int, setup=None, dataflow: str = "ideal") -> float:
    """Batch 1, tensor parallel over all CENT devices: every device holds 1/N of each layer.
    ``dataflow = "artifact"`` prices each block as CENT's own simulator does
    (hardware/pim/cent_dataflow.py: all heads per device, softmax through the banks, PNM cycle
    counts, in-order AiM controller, CXL multicast)."""
    setup = setup or load_setup()
    model = load_llm(model_name)
    n = setup["models"][model_name]["devices"]
    spec = load_pim_module("cent-module")
    if cd.check_dataflow(dataflow) == cd.CentDataflow.ARTIFACT:
        layout = cd.CentBlockLayout(fc_devices=n, channels_per_block=spec.channels, devices=n)
        return (model.layers * cd.block_s(spec, model, context, layout) + cd.lm_head_s(spec, model, layout)
                + setup["host_sampling_s"])
    shard = shard_model(model, n)
    layers = total(pim_decode_layers_cost(spec, shard, [context], model.layers, "head-first")).time_s
    head = pim_gemv_cost(spec, model.hidden, -(-model.vocab // n), 1).time_s
    link = load_link(spec.link)
    comm = 2 * model.layers * allreduce_cost(link, model.hidden * 2, n).time_s
    return layers + head + comm + setup["host_sampling_s"]


def cent_decode_throughput(model_name: str, setup=None, dataflow: str = "ideal") -> float:
    """Throughput mode: one transformer block per pipeline stage, as many queries in flight as
    stages; tokens/s = stages / (time for one token to pass every stage), averaged over the
    decode positions (CENT artifact's definition). With ``dataflow = "artifact"`` a stage's
    block is priced as CENT's simulator does: the device's blocks run together on disjoint
    channel groups and share its command DMA and PNM (hardware/pim/cent_dataflow.py)."""
    setup = setup or load_setup()
    model = load_llm(model_name)
    m = setup["models"][model_name]
    positions = _positions(setup, setup["prompt_tokens"] + 1, setup["prompt_tokens"] + setup["decode_tokens"])
    if cd.check_dataflow(dataflow) == cd.CentDataflow.ARTIFACT:
        spec = load_pim_module("cent-module")
        layout = cd.CentBlockLayout(channels_per_block=m["channels_per_stage"],
                                    blocks_per_device=-(-m["stages"] // m["devices"]), devices=m["devices"])
        head = cd.lm_head_s(spec, model, layout)
        return float(np.mean([m["stages"] / (model.layers * cd.block_s(spec, model, int(p), layout) + head
                                             + setup["host_sampling_s"]) for p in positions]))
    stage_spec = load_pim_module("cent-module").with_changes(channels=m["channels_per_stage"])
    rates = []
    for pos in positions:
        block = total(pim_decode_layers_cost(stage_spec, model, [int(pos)], 1, "head-first")).time_s
        head = pim_gemv_cost(stage_spec, model.hidden, model.vocab, 1).time_s
        token_s = model.layers * (block + setup["cxl_hop_s"]) + head + setup["host_sampling_s"]
        rates.append(m["stages"] / token_s)
    return float(np.mean(rates))


def gpu_max_batch(model_name: str, setup=None) -> int:
    """Largest batch whose full 4096-token KV fits beside the weights ("maximum supported")."""
    setup = setup or load_setup()
    model = load_llm(model_name)
    gpus = setup["models"][model_name]["gpus"]
    free = gpus * load_gpu(setup["gpu"]).hbm_capacity_bytes * (1 - setup["gpu_memory_reserve_fraction"])
    free -= model.params_total * model.bytes_per_value
    per_query = model.kv_bytes_per_token() * (setup["prompt_tokens"] + setup["decode_tokens"])
    return max(1, int(free // per_query))


def gpu_latency_s(model_name: str, setup=None) -> float:
    setup = setup or load_setup()
    model = load_llm(model_name)
    gpus = setup["models"][model_name]["gpus"]
    spec = load_gpu(setup["gpu"])
    prefill = total(gpu_prefill_cost(spec, model, [setup["prompt_tokens"]], gpus)).time_s
    positions = _positions(setup, setup["prompt_tokens"] + 1, setup["prompt_tokens"] + setup["decode_tokens"])
    decode = np.mean([total(gpu_decode_step_cost(spec, model, [int(p)], gpus)).time_s for p in positions])
    return prefill + decode * setup["decode_tokens"]


def gpu_decode_throughput(model_name: str, setup=None) -> tuple[float, int]:
    setup = setup or load_setup()
    model = load_llm(model_name)
    gpus = setup["models"][model_name]["gpus"]
    spec = load_gpu(setup["gpu"])
    batch = gpu_max_batch(model_name, setup)
    positions = _positions(setup, setup["prompt_tokens"] + 1, setup["prompt_tokens"] + setup["decode_tokens"])
    rates = [batch / total(gpu_decode_step_cost(spec, model, [int(p)] * batch, gpus)).time_s for p in positions]
    return float(np.mean(rates)), batch


def compare(model_name: str, dataflow: str = "ideal") -> CentVsGpu:
    setup = load_setup()
    positions = _positions(setup, 1, setup["prompt_tokens"] + setup["decode_tokens"])
    cent_latency = float(np.mean([cent_token_latency_s(model_name, int(p), setup, dataflow)
                                  for p in positions])) * (setup["prompt_tokens"] + setup["decode_tokens"])
    gpu_tp, batch = _gpu_side(model_name)
    return CentVsGpu(model_name, cent_latency, gpu_latency_s(model_name, setup),
                     cent_decode_throughput(model_name, setup, dataflow), gpu_tp, batch)


@cache
def _gpu_side(model_name: str) -> tuple[float, int]:
    """The GPU throughput does not depend on how CENT is priced: computed once per model."""
    return gpu_decode_throughput(model_name, load_setup())
