"""Decoder-only LLM shapes: what a decode step has to multiply and what KV it keeps.

Presets live in models/llm/presets/*.toml. Only shapes are modelled, never weights.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, fields
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from lolpim.core.errors import ParameterError
from lolpim.models.llm.hf_config import canonical_reference, hf_model_fields, is_hf_reference, read_hf_config

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass(frozen=True)
class LlmConfig:
    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn_hidden: int
    ffn_kind: str          # "gated" (SwiGLU: gate, up, down) or "plain" (up, down)
    vocab: int
    max_context_tokens: int
    bytes_per_value: int = 2  # FP16/BF16 activations, KV and (by default) weights
    tied_embeddings: bool = False   # the LM head reuses the embedding table (stored once)

    def __post_init__(self):
        for f in ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn_hidden", "vocab",
                  "max_context_tokens", "bytes_per_value"):
            value = getattr(self, f)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(f, f"must be a positive integer, got {value!r}")
        if self.ffn_kind not in ("gated", "plain"):
            raise ParameterError("ffn_kind", f"got {self.ffn_kind!r}; allowed: 'gated', 'plain'")
        if self.heads % self.kv_heads:
            raise ParameterError("kv_heads", f"{self.kv_heads} must divide heads ({self.heads})")
        if not isinstance(self.tied_embeddings, bool):
            raise ParameterError("tied_embeddings", f"must be true or false, got {self.tied_embeddings!r}")

    @property
    def gqa_group(self) -> int:
        """Query heads sharing one KV head (1 = plain multi-head attention)."""
        return self.heads // self.kv_heads

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def fc_shapes(self) -> dict[str, tuple[int, int]]:
        """Weight matrices of one decoder layer as (input size K, output size N) per part."""
        ffn_up = 2 * self.ffn_hidden if self.ffn_kind == "gated" else self.ffn_hidden
        return {
            "qkv": (self.hidden, self.q_dim + 2 * self.kv_dim),
            "out_proj": (self.q_dim, self.hidden),
            "ffn_up": (self.hidden, ffn_up),
            "ffn_down": (self.ffn_hidden, self.hidden),
        }

    @property
    def params_per_layer(self) -> int:
        return sum(k * n for k, n in self.fc_shapes().values())

    @property
    def params_total(self) -> int:
        tables = 1 if self.tied_embeddings else 2     # embedding table, LM head
        return self.layers * self.params_per_layer + tables * self.vocab * self.hidden

    def kv_bytes_per_token_per_layer(self) -> int:
        return 2 * self.kv_dim * self.bytes_per_value

    def kv_bytes_per_token(self) -> int:
        return self.layers * self.kv_bytes_per_token_per_layer()


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_llm(name: str) -> LlmConfig:
    """A preset by name, or ``hf:<path to config.json>`` (models/llm/hf_config.py)."""
    if is_hf_reference(name):
        return llm_from_hf(name)
    path = PRESET_DIR / f"{name}.toml"
    if not path.is_file():
        raise ParameterError("model", f"unknown model {name!r}; available: {', '.join(preset_names())}")
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    allowed = {f.name for f in fields(LlmConfig)}
    unknown = set(data) - allowed
    if unknown:
        raise ParameterError(sorted(unknown)[0], f"unknown key in preset {path.name}; allowed: {sorted(allowed)}")
    return LlmConfig(**data)


def llm_from_hf(reference: str) -> LlmConfig:
    """The shapes of the model whose Hugging Face config.json ``reference`` ("hf:<path>") names."""
    fields_ = hf_model_fields(read_hf_config(reference), name=canonical_reference(reference))
    if "experts" in fields_:
        # routed experts change both what is stored and what a token multiplies; pricing only
        # the dense part would be a silent wrong result, so refuse until experts are priced
        raise ParameterError("num_experts", f"{reference}: mixture-of-experts models ({fields_['experts']} "
                                            "experts) are not priced yet; use a dense model")
    return LlmConfig(**fields_)
