"""What the project uses from Python 3.11 that 3.10 (the oldest requires-python allows) lacks.

Import these from here, not from ``enum``/``typing``: mypy checks the package as Python 3.10
(pyproject.toml), so a direct 3.11-only import fails `make lint`."""
from __future__ import annotations

import sys
from enum import Enum

if sys.version_info >= (3, 11):
    from enum import StrEnum
    from typing import dataclass_transform
else:  # Python 3.10
    from typing_extensions import dataclass_transform   # a dependency on 3.10 only (pyproject.toml)

    class StrEnum(str, Enum):
        """Python 3.11's enum.StrEnum: members are str, and str() and format() give the value."""
        __str__ = str.__str__

__all__ = ["StrEnum", "dataclass_transform"]
