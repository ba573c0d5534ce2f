"""The kinds of hardware preset a config key may name, each with its label, its names and its
loader: a config field says which kind it names (``metadata={"preset": "pim"}``), and the config
layer checks the value against that kind, whichever config class the field belongs to (a
built-in system's or a plugin's).

A value is a preset name (a file under hardware/presets/<kind>/) or ``file:<path>.toml``, a
user's own preset by explicit path, loaded (and so checked) as a built-in one is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

from lolpim.core.errors import ParameterError
from lolpim.core.presets import absolute_file_reference, is_file_reference
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


def check_preset(kind: str, value, label: str) -> str:
    """``value`` as a preset of ``kind`` a flag or argument ``label`` gave: a built-in name, or a
    loadable file:<path>.toml (made absolute); else a ParameterError naming ``label``."""
    preset = PRESET_KINDS[kind]
    if is_file_reference(value):
        value = absolute_file_reference(value)
        preset.load(value)   # its own errors name the preset's key and the file
        return value
    if value not in preset.names():
        raise ParameterError(label, f"unknown {preset.label} {str(value)[:200]!r}; available: "
                                    f"{', '.join(preset.names())} (or file:<path>.toml)")
    return value
