"""Models from a Hugging Face config.json (issue 16 point 3): the shipped configs (public
architecture facts) give exactly the built-in presets where both exist, and malformed configs
are refused naming the field."""
import dataclasses
import json
from pathlib import Path

import pytest

from lolpim.core.errors import ParameterError
from lolpim.models.llm.architecture import load_llm
from lolpim.models.llm.hf_config import hf_model_fields

DATA = Path(__file__).resolve().parents[1] / "data" / "hf"
DENSE_WITH_PRESET = ("llama3.1-8b", "llama3.1-70b", "qwen1.5-7b", "llama2-7b")


@pytest.mark.parametrize("name", DENSE_WITH_PRESET)
def test_config_json_gives_the_built_in_preset(name):
    from_hf = load_llm(f"hf:{DATA / name / 'config.json'}")
    assert from_hf.name == f"hf:{DATA / name / 'config.json'}"
    assert dataclasses.replace(from_hf, name=name) == load_llm(name)


def test_a_folder_holding_config_json_is_accepted():
    assert load_llm(f"hf:{DATA / 'llama3.1-8b'}").name.endswith("llama3.1-8b/config.json")


def _fields(**changes):
    data = json.loads((DATA / "llama3.1-8b" / "config.json").read_text())
    data.update(changes)
    return hf_model_fields({k: v for k, v in data.items() if v is not None}, "x")


@pytest.mark.parametrize("changes, field", [
    ({"num_hidden_layers": None}, "num_hidden_layers"),
    ({"hidden_size": -4096}, "hidden_size"),
    ({"num_attention_heads": 32.0}, "num_attention_heads"),
    ({"model_type": "mamba"}, "model_type"),
    ({"torch_dtype": "int4"}, "torch_dtype"),
    ({"tie_word_embeddings": "yes"}, "tie_word_embeddings"),
    ({"num_local_experts": 8, "num_experts_per_tok": 9}, "num_experts_per_tok"),
    # past the sanity bounds (models/llm/limits.py): absurd sizes, not published models
    ({"num_hidden_layers": 10**9}, "num_hidden_layers"),
    ({"vocab_size": 2**40}, "vocab_size"),
    ({"num_local_experts": 10**6, "num_experts_per_tok": 2}, "num_local_experts"),
])
def test_malformed_config_names_the_field(changes, field):
    with pytest.raises(ParameterError) as err:
        _fields(**changes)
    assert err.value.field == field


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b"\xff\xfe{}", b"[" * 100_000])
def test_unreadable_config_is_a_clear_error(tmp_path, raw):
    path = tmp_path / "config.json"
    path.write_bytes(raw)
    with pytest.raises(ParameterError) as err:
        load_llm(f"hf:{path}")
    assert err.value.field == "model"


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ParameterError, match="cannot read"):
        load_llm(f"hf:{tmp_path / 'nope.json'}")


def test_moe_fields_are_read():
    mixtral = hf_model_fields(json.loads((DATA / "mixtral-8x7b" / "config.json").read_text()), "m")
    assert (mixtral["experts"], mixtral["experts_per_token"], mixtral["expert_ffn_hidden"]) == (8, 2, 14336)
    qwen = hf_model_fields(json.loads((DATA / "qwen1.5-moe-a2.7b" / "config.json").read_text()), "q")
    assert (qwen["experts"], qwen["experts_per_token"], qwen["expert_ffn_hidden"],
            qwen["shared_expert_ffn_hidden"]) == (60, 4, 1408, 5632)


def test_a_huge_config_is_refused_on_the_command_line(tmp_path):
    import subprocess
    import sys
    data = json.loads((DATA / "llama3.1-8b" / "config.json").read_text())
    data["num_hidden_layers"] = 10**9
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    out = subprocess.run([sys.executable, "-m", "lolpim.orchestration.cli", "estimate", "--model", f"hf:{path}",
                          "--context", "1024"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "num_hidden_layers" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("architectures, family", [(["LlamaForCausalLM"], "llama"),
                                                   (["GPTNeoXForCausalLM"], "gpt_neox"),
                                                   (["GPT2LMHeadModel"], "gpt2"), (["Qwen2ForCausalLM"], "qwen2")])
def test_architectures_names_the_family_when_model_type_is_absent(architectures, family):
    """Issue 25 item 6: a config.json without `model_type` was refused ('missing' is not a
    supported model family) although `architectures` names the family."""
    from lolpim.models.llm.hf_config import model_family
    assert model_family({"architectures": architectures}) == family
    assert _fields(model_type=None, architectures=["LlamaForCausalLM"]) == _fields()


def test_no_model_type_and_an_unknown_architecture_is_refused_naming_both():
    with pytest.raises(ParameterError, match="nor does 'architectures' name one") as err:
        _fields(model_type=None, architectures=["MambaForCausalLM"])
    assert err.value.field == "model_type"
