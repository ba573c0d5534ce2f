"""Stand-ins shared by the reliability tests that stop a comparison part-way."""
from dataclasses import MISSING, fields, replace
from types import SimpleNamespace

import pytest

from lolpim.models.llm.workload import fixed_trace
from lolpim.orchestration.llm import compare
from lolpim.orchestration.llm.result_types import Hardware, SystemResult


def stand_in_result(kind: str, **values) -> SystemResult:
    """A stand-in result: zeros, but its name, a rate and a hardware label."""
    blank = {f.name: 0 for f in fields(SystemResult) if f.default is MISSING and f.default_factory is MISSING}
    return replace(SystemResult(**blank), system=kind, description=kind, throughput_tokens_per_s=10.0,
                   hardware=Hardware.of((1, kind, "PIM", 2**30, 1.0)), **values)


@pytest.fixture
def stand_in():
    """stand_in_result, for the tests that build their own stand-ins."""
    return stand_in_result


@pytest.fixture
def stub_comparison(monkeypatch):
    """``stub_comparison(run)``: compare.run_systems builds nothing and simulates nothing; each
    system's run is ``run(kind)`` (which may raise or signal), and its result a stand-in."""
    def install(run) -> None:
        monkeypatch.setattr(compare, "make_trace", lambda cfg, seed: fixed_trace(4, 512, 8))
        monkeypatch.setattr(compare, "resolve", lambda cfg: None, raising=False)
        monkeypatch.setattr(compare, "build", lambda kind, *a: SimpleNamespace(kind=kind, spec=kind))
        monkeypatch.setattr(compare, "make_executor", lambda *a, **k: SimpleNamespace(run=run, progress=None))
        monkeypatch.setattr(compare, "system_result", lambda system, out: stand_in_result(system.kind))
    return install
