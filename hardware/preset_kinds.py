"""The kinds of hardware preset a config key may name, each with its label, its names and its
loader: a config field says which kind it names (``metadata={"preset": "pim"}``), and the config
layer checks the value against that kind, whichever config class the field belongs to (a
built-in system's or a plugin's).

A value is a preset name (a file under hardware/presets/<kind>/) or ``file:<path>.toml``, a
user's own preset by explicit path, loaded (and so checked) as a built-in one is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from lolpim.hardware.gpu.model import gpu_names, load_gpu
from lolpim.hardware.hbm_pim import hbm_pim_names, load_hbm_pim
from lolpim.hardware.links import link_names, load_link
from lolpim.hardware.pim import load_pim_module, pim_module_names


@dataclass(frozen=True)
class PresetKind:
    label: str                          # what an error calls it: "unknown PIM module preset 'x'"
    names: Callable[[], list[str]]      # the built-in presets
    load: Callable[[str], Any]          # a name or file:<path>.toml -> the checked spec


PRESET_KINDS = {
    "pim": PresetKind("PIM module", pim_module_names, load_pim_module),
    "gpu": PresetKind("GPU", gpu_names, load_gpu),
    "hbm_pim": PresetKind("HBM-PIM", hbm_pim_names, load_hbm_pim),
    "link": PresetKind("link", link_names, load_link),
}
