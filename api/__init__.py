"""lolpim as a library (docs/api.md).

    import lolpim
    c = lolpim.compare(systems=["lolpim", "gpu"], model="llama2-7b", workload={"requests": 4})
    print(c.table())

Every function checks its keys as the `lolpim` command does: a bad one raises a
``lolpim.UserError`` (a ``ConfigError`` naming the key and what is allowed).
"""
from lolpim.core.errors import ConfigError, ParameterError, UserError

# ---- LLM serving: compare, size, estimate, sweep (lolpim/llm_api.py) ----------------------------
from lolpim.llm_api import (BracketEnd, Comparison, DeviceGroup, Hardware, RequestResult, Sizing, StepEstimate,
                            Sweep, SweepPoint, SystemResult, compare, estimate, size, sweep)

__all__ = ["ConfigError", "ParameterError", "UserError",
           # LLM serving
           "BracketEnd", "Comparison", "DeviceGroup", "Hardware", "RequestResult", "Sizing", "StepEstimate", "Sweep",
           "SweepPoint", "SystemResult", "compare", "estimate", "size", "sweep"]
