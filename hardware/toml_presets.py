"""Reading device presets (TOML data files under hardware/presets/<kind>/) into frozen dataclasses.

Kept apart from the models so every preset kind (GPU, link, HBM-PIM) gets the same checks:
unknown keys and unknown names are errors that list what exists, and every entry is checked
against its field's declaration (core/schema.py) before the spec is built.
"""
from __future__ import annotations

from pathlib import Path

from lolpim.core import presets

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
