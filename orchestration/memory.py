"""Refusing a run too large to hold before allocating it: one check for every command."""
from __future__ import annotations

import os
from pathlib import Path

from lolpim.core.errors import UserError

RAM_FRACTION = 0.7       # of the machine's memory (or its cgroup limit) one run may plan to use


def machine_ram_bytes() -> int | None:
    """Physical memory, or the cgroup limit where that is smaller (None if unknown)."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and (ram is None or int(text) < ram):
            ram = int(text)
    return ram


def gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB"


def check_fits(need_bytes: int, what: str, detail: str, advice: str) -> None:
    """UserError (exit 2) when ``need_bytes`` is over RAM_FRACTION of this machine's memory:
    "<what> needs about N GiB (<detail>), more than 70% of this machine's M GiB; <advice>"."""
    ram = machine_ram_bytes()
    if ram is not None and need_bytes > RAM_FRACTION * ram:
        raise UserError(f"{what} needs about {gib(need_bytes)} ({detail}), more than {RAM_FRACTION:.0%} "
                        f"of this machine's {gib(ram)}; {advice}")
