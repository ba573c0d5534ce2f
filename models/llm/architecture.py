"""Decoder-only LLM shapes: what a decode step has to multiply and what KV it keeps.

Presets live in models/llm/presets/*.toml. Only shapes are modelled, never weights.
"""
from __future__ import annotations

import math
from pathlib import Path

from lolpim.core import presets
from lolpim.core.errors import ParameterError
from lolpim.core.schema import FieldProblem, field, frozen
from lolpim.models.llm.hf_config import canonical_reference, hf_model_fields, is_hf_reference, read_hf_config
from lolpim.models.llm.limits import FIELD_MAX

PRESET_DIR = Path(__file__).parent / "presets"


@frozen
class LlmConfig:
    """A decoder's shapes; each size lies between its least value and its sanity bound (FIELD_MAX,
    models/llm/limits.py: well above every published model)."""
    name: str
    layers: int = field(min=1, max=FIELD_MAX["layers"])
    hidden: int = field(min=1, max=FIELD_MAX["hidden"])
    heads: int = field(min=1, max=FIELD_MAX["heads"])
    kv_heads: int = field(min=1, max=FIELD_MAX["kv_heads"])   # dividing heads: __post_init__
    head_dim: int = field(min=1, max=FIELD_MAX["head_dim"])
    ffn_hidden: int = field(min=1, max=FIELD_MAX["ffn_hidden"])
    # "gated" (SwiGLU: gate, up, down) or "plain" (up, down)
    ffn_kind: str = field(choices=("gated", "plain"))
    vocab: int = field(min=1, max=FIELD_MAX["vocab"])
    max_context_tokens: int = field(min=1, max=FIELD_MAX["max_context_tokens"])
    # FP16/BF16 activations, KV and (by default) weights
    bytes_per_value: int = field(default=2, min=1, max=FIELD_MAX["bytes_per_value"])
    tied_embeddings: bool = False   # the LM head reuses the embedding table (stored once)
    # mixture of experts (1 expert = a dense FFN): each token is routed to ``experts_per_token``
    # of ``experts`` FFNs of width ``expert_ffn_hidden``; a shared FFN of width
    # ``shared_expert_ffn_hidden`` (0: none) is always active beside them
    experts: int = field(default=1, min=1, max=FIELD_MAX["experts"])
    experts_per_token: int = field(default=1, min=1, max=FIELD_MAX["experts_per_token"])
    expert_ffn_hidden: int = field(default=0, min=0, max=FIELD_MAX["expert_ffn_hidden"])      # 0: ffn_hidden
    shared_expert_ffn_hidden: int = field(default=0, min=0, max=FIELD_MAX["shared_expert_ffn_hidden"])

    def __post_init__(self):   # after the declared ranges
        if self.heads % self.kv_heads:
            raise FieldProblem("kv_heads", f"{self.kv_heads} must divide {{heads}} ({self.heads})")
        if self.experts_per_token > self.experts:
            raise FieldProblem("experts_per_token", f"{self.experts_per_token} exceeds the {self.experts} {{experts}}")

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

    @property
    def is_moe(self) -> bool:
        return self.experts > 1

    @property
    def routed_ffn_hidden(self) -> int:
        """Width of one routed expert (the FFN itself for a dense model)."""
        return self.expert_ffn_hidden or self.ffn_hidden

    def _ffn_pair(self, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        up = 2 * width if self.ffn_kind == "gated" else width
        return (self.hidden, up), (width, self.hidden)

    def fc_shapes(self) -> dict[str, tuple[int, int]]:
        """The attention projections and one FFN (one routed expert for MoE) of a decoder layer,
        as (input size K, output size N) per part. What a layer stores: ``weight_matrices``;
        what a batch multiplies in the FFN: ``ffn_gemms``."""
        ffn_up, ffn_down = self._ffn_pair(self.routed_ffn_hidden)
        return {
            "qkv": (self.hidden, self.q_dim + 2 * self.kv_dim),
            "out_proj": (self.q_dim, self.hidden),
            "ffn_up": ffn_up,
            "ffn_down": ffn_down,
        }

    def weight_matrices(self) -> list[tuple[int, int, int]]:
        """Every weight matrix of one decoder layer as (K, N, copies): all experts are stored."""
        shapes = self.fc_shapes()
        out = [(*shapes["qkv"], 1), (*shapes["out_proj"], 1),
               (*shapes["ffn_up"], self.experts), (*shapes["ffn_down"], self.experts)]
        if self.is_moe:
            out.append((self.hidden, self.experts, 1))                 # the router
            if self.shared_expert_ffn_hidden:
                out += [(*s, 1) for s in self._ffn_pair(self.shared_expert_ffn_hidden)]
        return out

    def expert_load(self, tokens: int) -> tuple[float, float]:
        """(experts a batch of ``tokens`` tokens activates, tokens each active expert takes, on average).

        Routing is taken as uniform and independent per token (no measured router statistics
        are available for a shape-only model): an expert is idle with probability
        (1 - k/E)^tokens, so E (1 - (1 - k/E)^tokens) experts are active on average, and the
        batch's tokens x k token-expert pairs spread over them. A dense model: (1, tokens)."""
        if not self.is_moe:
            return 1.0, float(tokens)
        e, k = self.experts, self.experts_per_token
        active = e * (1.0 - (1.0 - k / e) ** tokens)
        return active, tokens * k / active

    def ffn_gemms(self, tokens: int) -> list[tuple[str, int, int, int, float]]:
        """The FFN of one layer for a batch of ``tokens`` tokens as (role, K, N, rows, count):
        ``count`` GEMMs of K x N weights with ``rows`` input rows each (count 1 for a dense
        model). Roles: "up" (gate and up projections), "down", "router".

        A GEMM has whole rows, so the active experts' mean load r splits into experts with
        floor(r) + 1 rows and experts with floor(r) rows, in the proportions that keep every one
        of the tokens x k token-expert pairs counted exactly once (rounding r up would charge a
        PIM GEMV pass for pairs that do not exist)."""
        up, down = self._ffn_pair(self.routed_ffn_hidden)
        active, mean_rows = self.expert_load(tokens)
        low = max(1, math.floor(mean_rows + 1e-9))
        more = min(max(mean_rows - low, 0.0), 1.0)        # share of active experts with low + 1 rows
        loads = [(low + 1, active * more), (low, active * (1.0 - more))] if more > 1e-9 else [(low, active)]
        out = [(role, *shape, rows, count) for role, shape in (("up", up), ("down", down)) for rows, count in loads]
        if self.is_moe:
            out.append(("router", self.hidden, self.experts, tokens, 1.0))
            if self.shared_expert_ffn_hidden:
                shared_up, shared_down = self._ffn_pair(self.shared_expert_ffn_hidden)
                out += [("up", *shared_up, tokens, 1.0), ("down", *shared_down, tokens, 1.0)]
        return out

    @property
    def ffn_width_per_token(self) -> int:
        """FFN activations one token computes (its routed experts and the shared FFN)."""
        return self.experts_per_token * self.routed_ffn_hidden + self.shared_expert_ffn_hidden

    @property
    def params_per_layer(self) -> int:
        return sum(k * n * copies for k, n, copies in self.weight_matrices())

    @property
    def params_total(self) -> int:
        tables = 1 if self.tied_embeddings else 2     # embedding table, LM head
        return self.layers * self.params_per_layer + tables * self.vocab * self.hidden

    @property
    def params_active_per_token(self) -> int:
        """Parameters one token multiplies (MoE: its routed experts only)."""
        expert = sum(k * n for k, n in self._ffn_pair(self.routed_ffn_hidden))
        idle_experts = self.experts - self.experts_per_token
        return self.params_total - self.layers * idle_experts * expert

    def kv_bytes_per_token_per_layer(self) -> int:
        return 2 * self.kv_dim * self.bytes_per_value

    def kv_bytes_per_token(self) -> int:
        return self.layers * self.kv_bytes_per_token_per_layer()


def preset_names() -> list[str]:
    return presets.preset_names(PRESET_DIR)


def load_llm(name: str) -> LlmConfig:
    """A preset by name, or ``hf:<path to config.json>`` (models/llm/hf_config.py): a user's own
    model is always given as an explicit hf: path, never as a name."""
    if isinstance(name, str) and is_hf_reference(name):
        return llm_from_hf(name)
    return presets.load_preset_table(PRESET_DIR, name, LlmConfig, "model", "model")


def llm_from_hf(reference: str) -> LlmConfig:
    """The shapes of the model whose Hugging Face config.json ``reference`` ("hf:<path>") names."""
    with presets.parsing(reference, "model", "Hugging Face config.json"):
        fields_ = hf_model_fields(read_hf_config(reference), name=canonical_reference(reference))
        return LlmConfig(**fields_)


def check_context(model: LlmConfig, tokens: int, key: str, what: str, model_key: str = "model") -> None:
    """Refuse ``what`` (a request or a batch's context) of ``tokens`` tokens past the model's
    maximum context, naming the limit and the key that raises it, ``model_key``: a preset with a
    longer context (the long-context presets carry their own limits)."""
    limit = model.max_context_tokens
    if tokens <= limit:
        return
    longer = [n for n in preset_names() if load_llm(n).max_context_tokens >= tokens]
    raise ParameterError(key, f"{what} reaches {tokens:,} tokens, past the {limit:,}-token maximum context of "
                              f"{model.name} (max_context_tokens of its preset); {model_key} raises the limit: "
                              + (f"presets that hold it: {', '.join(longer)}" if longer else "no preset holds it")
                              + "; or shorten the requests")
