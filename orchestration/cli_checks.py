"""Checks of the flags shared by several commands, applied by the CLI to every command before
it runs: a bad flag is one line naming it and what is allowed (exit 2), never a traceback
from deep inside a run, and never a run lost because its output folder is unusable.

Each check is keyed by the argparse destination (``--metrics-port`` -> ``metrics_port``) and
runs on every command that has that flag, so a new command gets the checks for free.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

from lolpim.core.errors import ParameterError, UserError
from lolpim.core.presets import is_file_reference
from lolpim.hardware.preset_kinds import PRESET_KINDS, check_preset
from lolpim.orchestration.memory import check_fits

MAX_SEED = 2**63 - 1
MAX_LINGER_S = 86_400.0


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _int_range(dest: str, value, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise UserError(f"{_flag(dest)} {value}: allowed {lo} .. {hi}")


def _seconds(dest: str, value) -> None:
    if not (math.isfinite(value) and 0 <= value <= MAX_LINGER_S):
        raise UserError(f"{_flag(dest)} {value}: allowed a number of seconds 0 .. {MAX_LINGER_S:.0f}")


def check_out_dir(value, flag: str = "--out") -> Path:
    """Make sure ``value`` is (or can be made) a folder this process can write files into:
    create it now and write a probe file, so the run is not lost at the end."""
    path = Path(value)
    try:
        if path.exists() and not path.is_dir():
            raise UserError(f"{flag} {value}: exists and is not a folder; give a folder for the result files")
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except UserError:
        raise
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UserError(f"{flag} {str(value)[:200]}: cannot write result files there ({reason})") from None
    return path


RAY_PROCESS_BYTES = 210 * 2**20   # one Ray worker process (interpreter, Ray, the actors' code): ~210 MB


def _ray_processes(dest: str, value: int) -> None:
    """Ray processes cost memory of their own, beyond the model state the commands estimate."""
    if value > 0:
        check_fits(value * RAY_PROCESS_BYTES, f"{_flag(dest)} {value}", "~210 MB per Ray process",
                   "ask for fewer processes")


def _process_count(dest: str, value: int, low: int) -> None:
    _int_range(dest, value, low, 4096)
    _ray_processes(dest, value)


CHECKS = {
    "seed": lambda d, v: _int_range(d, v, 0, MAX_SEED),
    "metrics_port": lambda d, v: _int_range(d, v, 0, 65_535),
    "metrics_linger_s": _seconds,
    "max_processes": lambda d, v: _process_count(d, v, 0),
    "processes": lambda d, v: _process_count(d, v, 1),
    "max_in_flight": lambda d, v: _int_range(d, v, 1, 1_000_000),
    "out": lambda d, v: check_out_dir(v, _flag(d)),
}


def check_int_flags(args, bounds: dict[str, tuple[int, int]]) -> None:
    """A command's own integer flags (argparse dest -> inclusive range): each one given lies in
    its range. Checked before anything is sized or allocated: a huge --batch otherwise reaches
    numpy as an array shape."""
    for dest, (lo, hi) in bounds.items():
        value = getattr(args, dest, None)
        if value is not None:
            _int_range(dest, value, lo, hi)


def check_name(dest: str, value: str, allowed) -> None:
    """A preset name given by a flag is one of ``allowed``, whether or not the chosen system uses
    it (a mistyped name is never ignored silently)."""
    allowed = list(allowed)
    if value not in allowed:
        raise UserError(f"{_flag(dest)} {str(value)[:200]!r}: unknown; allowed: {', '.join(allowed)}")


def check_preset_flag(dest: str, value: str, kind: str) -> str:
    """A hardware preset given by a flag: a built-in name of ``kind`` (hardware/preset_kinds.py)
    or a user's own file:<path>.toml (loaded, so checked; returned with an absolute path)."""
    if is_file_reference(value):
        try:
            return check_preset(kind, value, _flag(dest))
        except ParameterError as exc:
            raise UserError(f"{_flag(dest)}: {exc}") from None   # names the preset's key and the file
    check_name(dest, value, PRESET_KINDS[kind].names())
    return value


def check_args(args) -> None:
    """Check every shared flag ``args`` carries (None: not given), then their combinations."""
    for dest, value in vars(args).items():
        # an empty value never means "the default" or "all": `--out ''` wrote nothing,
        # `validate --area ''` ran every area, `--params ''` took the default set
        if any(isinstance(v, str) and not v.strip() for v in (value if isinstance(value, list) else [value])):
            raise UserError(f"{_flag(dest)}: empty value; give one, or leave the flag out for its default")
    for dest, check in CHECKS.items():
        value = getattr(args, dest, None)
        if value is not None:
            check(dest, value)
    if getattr(args, "executor", None) == "inline":
        if getattr(args, "address", None) is not None:
            raise UserError("--address applies to --executor ray only; drop it or use --executor ray")
        if getattr(args, "max_processes", 1) != 1:
            raise UserError("--max-processes applies to --executor ray only; drop it or use --executor ray")
    if getattr(args, "metrics_port", None) is None:
        for dest in ("metrics_host", "metrics_linger_s"):
            if getattr(args, dest, None) is not None:
                raise UserError(f"{_flag(dest)} applies with --metrics-port only; drop it or give --metrics-port")
    if getattr(args, "serial", False) and getattr(args, "address", None) is not None:
        raise UserError("--address applies to a sweep on Ray only; drop it or drop --serial")
    if getattr(args, "serial", False) and getattr(args, "max_in_flight", None) is not None:
        raise UserError("--max-in-flight applies to a sweep on Ray only; drop it or drop --serial")
