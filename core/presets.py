"""Reading TOML data files: the one place that knows tomllib, and turns a bad file into a clear error.

Every preset, config and experiment file of every layer is read through ``read_toml``, so an
unreadable, non-UTF-8, malformed or absurdly nested file always gives a ParameterError naming
the file, never a traceback from the parser.
"""
from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from lolpim.core.errors import ParameterError

MAX_TOML_BYTES = 8 * 2**20     # presets and configs are a few KB; anything this big is a mistake


def read_toml(path: str | Path, label: str = "file") -> dict:
    """The table in the TOML file ``path``; ``label`` names the option or key that gave the path."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ParameterError(label, f"{path} is a directory, not a TOML file")
        size = path.stat().st_size
        if size > MAX_TOML_BYTES:
            raise ParameterError(label, f"{path} is {size / 2**20:.0f} MiB; a TOML file here is at most "
                                        f"{MAX_TOML_BYTES // 2**20} MiB")
        data = path.read_bytes()
    except OSError as exc:
        raise ParameterError(label, f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ParameterError(label, f"{path} is not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(label, f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ParameterError(label, f"{path} nests tables or arrays too deeply") from None
