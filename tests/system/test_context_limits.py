"""Issue 21 point 6: a request longer than the model's maximum context (max_context_tokens of its
preset) is refused in `run`, `estimate` and `size` with exit 2, naming the limit and the key
that raises it; the long-context presets carry their own limits."""
import pytest

from lolpim.hardware.estimate import estimate
from lolpim.orchestration import config
from lolpim.orchestration.cli import main
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.systems import build, make_trace

FIXED = ["--set", "workload.source=fixed"]


@pytest.mark.parametrize("argv, key", [
    (["run", "--executor", "inline", "--set", "model=llama2-7b", *FIXED, "--set", "workload.input_tokens=8192"],
     "'workload.input_tokens'"),
    (["run", "--executor", "inline", "--set", "model=llama2-7b"], "'workload.source'"),   # LongBench: 2.6K-30K
    (["estimate", "--model", "llama2-7b", "--context", "8192"], "'context'"),
    (["estimate", "--model", "llama2-7b", "--context", "8192", "--prefill"], "'context'"),
    (["size", "--model", "llama2-7b", "--context", "8192"], "'context'"),
    (["size", "--model", "llama2-7b", "--trace", "longbench-qmsum"], "'trace'"),
])
def test_past_the_limit_is_refused_naming_it(argv, key, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert key in err and "4,096-token maximum context of llama2-7b" in err
    assert "model" in err and "llama3.1-8b-1m" in err          # the key that raises it, and presets that do
    assert "Traceback" not in err


def test_the_limit_counts_the_output_tokens(capsys):
    """The last token of a request attends over prompt + output: 4,064 + 32 fits Llama-2, 4,096 + 32 does not."""
    ok = config.load(RunConfig, None, ["model=llama2-7b", "workload.source=fixed", "workload.requests=2",
                                       "workload.input_tokens=4064", "workload.output_tokens=32"])
    build("gpu", ok, make_trace(ok, 0), 0)
    assert main(["run", "--executor", "inline", "--set", "model=llama2-7b", *FIXED, "--set", "workload.requests=2",
                 "--set", "workload.input_tokens=4096", "--set", "workload.output_tokens=32"]) == 2
    assert "reaches 4,128 tokens" in capsys.readouterr().err


def test_long_context_presets_carry_their_own_limits():
    assert estimate("gpu", "llama3.1-8b-1m", batch=1, context=1 << 20, device="h200", layers=1).total_s > 0
    with pytest.raises(ValueError, match="131,072-token maximum context of llama3.1-8b"):
        estimate("gpu", "llama3.1-8b", batch=1, context=1 << 20, device="h200", layers=1)
    with pytest.raises(ValueError, match="1,048,576-token maximum context of llama3.1-8b-1m.*no preset holds it"):
        estimate("gpu", "llama3.1-8b-1m", batch=1, context=(1 << 20) + 1, device="h200", layers=1)
