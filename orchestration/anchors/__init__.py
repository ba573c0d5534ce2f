"""Anchor modules: each exposes ``checks() -> list[AnchorCheck]``.

``AREAS`` groups the modules into the areas that `lolpim validate` shows in its first column and
selects with ``--area``; every check of a module carries its module's area (validation.all_checks
enforces it), so each name shown in the table selects its rows. A new module must be added here.
"""

AREAS: dict[str, tuple[str, ...]] = {
    "cbp": ("cbp",),
    "hardware": ("hardware_gpu", "hardware_pim"),
    "hebbian": ("hebbian",),
    "lolpim": ("lolpim_system", "long_context"),
    "plasticity": ("plasticity",),
}
