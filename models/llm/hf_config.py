"""Model shapes from a Hugging Face ``config.json``: `--set model=hf:path/to/config.json`.

Only the architecture fields are read (sizes, heads, vocabulary, context, dtype, tied
embeddings, experts); weights never are. Each field is looked up under the names the common
model families use, and a missing or unsupported one is an error naming the field, so a
researcher can bring a new model without writing a preset.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

from lolpim.core.errors import ParameterError
from lolpim.core.presets import read_file_bytes
from lolpim.models.llm.limits import FIELD_MAX

PREFIX = "hf:"
MAX_CONFIG_BYTES = 1 << 20        # a config.json is a few KB
# the FFN of these families is gated (SwiGLU/GeGLU: gate, up, down); GPT-2/OPT/Falcon-style is plain
GATED_FAMILIES = ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma",
                  "gemma2", "phi3", "deepseek_v2", "deepseek_v3", "olmo", "olmoe", "granite")
PLAIN_FAMILIES = ("gpt2", "opt", "gpt_neox", "falcon", "bloom", "gptj", "phi")
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "fp8": 1, "float8_e4m3fn": 1}
# (our field, the config.json names it goes by, in order of preference)
SIZE_FIELDS = (
    ("layers", ("num_hidden_layers", "n_layer", "num_layers")),
    ("hidden", ("hidden_size", "n_embd", "d_model")),
    ("heads", ("num_attention_heads", "n_head")),
    ("vocab", ("vocab_size",)),
    ("max_context_tokens", ("max_position_embeddings", "n_positions", "max_sequence_length")),
)


def is_hf_reference(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def read_hf_config(reference: str) -> dict:
    """The JSON object of ``hf:<path>`` (the path to a config.json, or a folder holding one)."""
    path = Path(reference[len(PREFIX):] if is_hf_reference(reference) else reference)
    with contextlib.suppress(OSError):   # e.g. a name too long for the OS: read_file_bytes says so
        if path.is_dir():
            path = path / "config.json"
    raw = read_file_bytes(path, "model", MAX_CONFIG_BYTES, "Hugging Face config.json")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParameterError("model", f"{path} is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:   # JSONDecodeError, or an integer past the digit limit
        raise ParameterError("model", f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ParameterError("model", f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def canonical_reference(reference: str) -> str:
    """``hf:<absolute path of the config.json>``: the model's name everywhere downstream, so any
    process (a Ray worker has its own working directory) reads the same file."""
    path = Path(reference[len(PREFIX):])
    path = path / "config.json" if path.is_dir() else path
    return PREFIX + str(path.resolve())


def _int_field(data: dict, ours: str, names: tuple[str, ...], default=None) -> int:
    for name in names:
        if name in data and data[name] is not None:
            value = data[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(name, f"must be a positive integer in config.json, got {value!r}")
            most = FIELD_MAX.get(ours)
            if most is not None and value > most:
                raise ParameterError(name, f"{value} in config.json is past the sanity bound {most:,} for {ours} "
                                           "(above any published model)")
            return value
    if default is not None:
        return default
    raise ParameterError(names[0], f"missing from config.json (needed for {ours}; also looked for: "
                                   f"{', '.join(names[1:]) or 'no other name'})")


ARCHITECTURE_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration", "Model")


def model_family(data: dict) -> str:
    """The model family: ``model_type``, or, where a config.json lacks it, the family its
    ``architectures`` class names (``LlamaForCausalLM`` -> llama, ``GPTNeoXForCausalLM`` ->
    gpt_neox), matched against the supported families with underscores ignored."""
    family = data.get("model_type")
    if isinstance(family, str) and family:
        return family.lower()
    names = data.get("architectures")
    if isinstance(names, list):
        known = {f.replace("_", ""): f for f in GATED_FAMILIES + PLAIN_FAMILIES}
        for name in (n for n in names if isinstance(n, str)):
            stem = next((name[:-len(s)] for s in ARCHITECTURE_SUFFIXES if name.endswith(s)), name)
            if stem.lower() in known:
                return known[stem.lower()]
    return ""


def _ffn_kind(data: dict) -> str:
    family = model_family(data)
    if family in GATED_FAMILIES:
        return "gated"
    if family in PLAIN_FAMILIES:
        return "plain"
    raise ParameterError("model_type", f"{family or 'missing'!r} is not a supported model family (nor does "
                                       f"'architectures' name one); supported: "
                                       f"{', '.join(GATED_FAMILIES + PLAIN_FAMILIES)}")


def _bytes_per_value(data: dict) -> int:
    dtype = data.get("torch_dtype", data.get("dtype", "bfloat16"))
    if dtype not in DTYPE_BYTES:
        raise ParameterError("torch_dtype", f"{dtype!r} is not supported; allowed: {', '.join(DTYPE_BYTES)}")
    return DTYPE_BYTES[dtype]


def _experts(data: dict, ffn_hidden: int) -> dict:
    """Mixture-of-experts fields (empty for a dense model).

    Mixtral: num_local_experts, num_experts_per_tok, intermediate_size per expert. Qwen-MoE:
    num_experts, moe_intermediate_size, shared_expert_intermediate_size. DeepSeek: n_routed_experts,
    moe_intermediate_size, n_shared_experts (each of moe_intermediate_size)."""
    key, experts = next(((k, data[k]) for k in ("num_local_experts", "num_experts", "n_routed_experts")
                         if data.get(k) is not None), ("", None))
    if experts is not None and (isinstance(experts, bool) or not isinstance(experts, int) or experts < 1):
        # `true` == 1 in Python: it used to be taken for a dense model
        raise ParameterError(key, f"must be a positive integer in config.json, got {experts!r}")
    if experts is None or experts == 1:
        return {}
    routed = _int_field(data, "experts_per_token", ("num_experts_per_tok", "moe_top_k"))
    expert_ffn = _int_field(data, "expert_ffn_hidden", ("moe_intermediate_size",), default=ffn_hidden)
    shared = 0
    if data.get("shared_expert_intermediate_size"):
        shared = _int_field(data, "shared_expert_ffn_hidden", ("shared_expert_intermediate_size",))
    elif data.get("n_shared_experts"):
        shared = _int_field(data, "shared_experts", ("n_shared_experts",)) * expert_ffn
    out = {"experts": _int_field(data, "experts", ("num_local_experts", "num_experts", "n_routed_experts")),
           "experts_per_token": routed, "expert_ffn_hidden": expert_ffn, "shared_expert_ffn_hidden": shared}
    if routed > out["experts"]:
        raise ParameterError("num_experts_per_tok", f"{routed} routed experts per token exceeds the "
                                                    f"{out['experts']} experts")
    return out


def hf_model_fields(data: dict, name: str) -> dict:
    """LlmConfig keyword arguments for the architecture ``data`` describes."""
    sizes = {ours: _int_field(data, ours, names) for ours, names in SIZE_FIELDS}
    heads = sizes["heads"]
    kv_heads = _int_field(data, "kv_heads", ("num_key_value_heads", "num_kv_heads"), default=heads)
    head_dim = _int_field(data, "head_dim", ("head_dim",), default=sizes["hidden"] // heads)
    ffn_hidden = _int_field(data, "ffn_hidden", ("intermediate_size", "ffn_dim", "n_inner"),
                            default=4 * sizes["hidden"])
    tied = data.get("tie_word_embeddings", False)
    if not isinstance(tied, bool):
        raise ParameterError("tie_word_embeddings", f"must be true or false, got {tied!r}")
    return {"name": name, **sizes, "kv_heads": kv_heads, "head_dim": head_dim, "ffn_hidden": ffn_hidden,
            "ffn_kind": _ffn_kind(data), "bytes_per_value": _bytes_per_value(data), "tied_embeddings": tied,
            **_experts(data, ffn_hidden)}
