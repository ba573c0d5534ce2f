"""Reading device presets (TOML data files under hardware/presets/<kind>/) into frozen dataclasses.

Kept apart from the models so every preset kind (GPU, link, HBM-PIM) gets the same checks:
unknown keys and unknown names are errors that list what exists.
"""
from __future__ import annotations

import math
from pathlib import Path

from lolpim.core import presets
from lolpim.core.errors import ParameterError

PRESET_ROOT = Path(__file__).parent / "presets"


def preset_names(kind: str) -> list[str]:
    return presets.preset_names(PRESET_ROOT / kind)


def load_preset(kind: str, name: str, cls, field_label: str):
    """Build ``cls`` from presets/<kind>/<name>.toml; ``field_label`` names the user-facing option.
    ``name`` is one of the preset names (never a path), or ``file:<path>.toml``: a user's own
    preset by explicit path, checked the same way."""
    if presets.is_file_reference(name):
        return presets.load_file_table(name, cls, field_label, f"{kind} preset")
    return presets.load_preset_table(PRESET_ROOT / kind, name, cls, field_label, f"{kind} preset")


def require_positive(obj, *names: str, allow_zero: bool = False) -> None:
    for name in names:
        value = getattr(obj, name)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ParameterError(name, f"must be a finite number {bound}, got {value!r}")


def require_fraction(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 1:
            raise ParameterError(name, f"must lie in (0, 1], got {value!r}")
