"""lolpim's Python API for LLM serving (docs/api.md): compare systems on a trace, size a PIM
system, estimate one decode step, run a sweep. The same functions the `lolpim` commands call
(their home: orchestration/llm/api.py)."""
from lolpim.orchestration.llm.api import (Comparison, Sizing, StepEstimate, Sweep, SweepPoint, compare, estimate,
                                          size, sweep)
from lolpim.orchestration.llm.result_types import (BracketEnd, DeviceGroup, Hardware, RequestResult,
                                                   SystemResult)

__all__ = ["BracketEnd", "Comparison", "DeviceGroup", "Hardware", "RequestResult", "Sizing", "StepEstimate", "Sweep",
           "SweepPoint", "SystemResult", "compare", "estimate", "size", "sweep"]
