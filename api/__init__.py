"""lolpim as a library (docs/api.md).

    import lolpim
    c = lolpim.compare(systems=["lolpim", "gpu"], model="llama2-7b", workload={"requests": 4})
    print(c.table())
    r = lolpim.stdp(pairs=30)        # the plasticity protocols, lolpim.hebbian, lolpim.cbp

Every function checks its keys as the `lolpim` command does: a bad one raises a
``lolpim.UserError`` (a ``ConfigError`` naming the key and what is allowed).

The names below are imported when first used, so ``import lolpim`` (and with it every
``import lolpim.<layer>``, the `lolpim` command's start included) stays as light as before.
"""
from __future__ import annotations

import importlib

from lolpim.core.errors import ConfigError, ParameterError, UserError

_LAZY: dict[str, str] = {}   # public name -> the module that defines it

# ---- LLM serving: compare, size, estimate, sweep (lolpim/llm_api.py) ----------------------------
_LAZY.update(dict.fromkeys(("compare", "size", "estimate", "sweep", "Comparison", "Sizing", "StepEstimate", "Sweep",
                            "SweepPoint", "SystemResult", "RequestResult", "BracketEnd", "Hardware", "DeviceGroup"),
                           "lolpim.llm_api"))

# ---- learning: plasticity protocols, Hebbian, CBP (orchestration/api_learning.py) -------------
_LAZY.update(dict.fromkeys(("plasticity", "pairing", "stdp", "frequency", "sjostrom", "bcm", "ocular_dominance",
                            "od_map", "hebbian", "cbp", "PlasticityResult", "OdMapResult", "OdMapInterrupted",
                            "HebbianResult", "CbpResult"),
                           "lolpim.orchestration.api_learning"))
_LAZY.update(dict.fromkeys(("PairingRun", "StdpRun", "FrequencyRun", "BcmRun", "OcularDominanceRun", "OdMapRun",
                            "HebbianRun", "CbpRun"), "lolpim.orchestration.learning_config"))

__all__ = ["ConfigError", "ParameterError", "UserError", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lolpim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value   # imported once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
