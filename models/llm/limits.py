"""Sanity bounds on an LLM architecture, shared by the presets and Hugging Face configs."""

# Sanity bounds on the architecture, each well above every published model (GPT-3: 96 layers,
# hidden 12288; DeepSeek-V3: 256 experts; vocabularies ~256K; Llama 4: 10M-token context): a
# value past them is a typo (or a hostile file), and it would overflow the FLOP and byte counts
# long before it meant anything.
FIELD_MAX = {"layers": 1024, "hidden": 262_144, "heads": 4096, "kv_heads": 4096, "head_dim": 4096,
             "ffn_hidden": 4_194_304, "vocab": 16_777_216, "max_context_tokens": 1 << 30, "bytes_per_value": 8,
             "experts": 4096, "experts_per_token": 4096, "expert_ffn_hidden": 4_194_304,
             "shared_expert_ffn_hidden": 4_194_304}
