"""Reading TOML data files: the one place that knows tomllib, and turns a bad file into a clear error.

Every preset, config and experiment file of every layer is read through ``read_toml``, so an
unreadable, non-UTF-8, malformed or absurdly nested file always gives a ParameterError naming
the file, never a traceback from the parser.
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from lolpim.core import schema
from lolpim.core.errors import ParameterError, UserError

MAX_TOML_BYTES = 8 * 2**20     # presets and configs are a few KB; anything this big is a mistake


def read_file_bytes(path: str | Path, label: str, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit``: /dev/zero or a huge file is
    refused, never read whole); every problem is a one-line ParameterError naming ``label``."""
    path = Path(path)
    shown = str(path) if len(str(path)) <= 200 else str(path)[:197] + "..."
    try:
        if not path.is_file():
            kind = "a folder" if path.is_dir() else "not a regular file" if path.exists() else "missing"
            raise ParameterError(label, f"'{shown}' is {kind}; give a {what}" if kind != "missing"
                                 else f"cannot read '{shown}': it does not exist")
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise ParameterError(label, f"cannot read '{shown}': {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ParameterError(label, f"'{shown}' is over {limit / 2**20:.0f} MiB; a {what} here is smaller")
    return data


@contextlib.contextmanager
def parsing(path, label: str, what: str = "file"):
    """The one guard around reading and interpreting a user's file (issue 26): any failure in the
    block that is not already one of our one-line errors -- a library's ValueError (Python's
    integer-digit limit), TypeError (a list where a string belongs), zlib, gzip or struct errors,
    ZeroDivisionError from a hand-edited value -- becomes a ParameterError naming ``label`` and
    the file, never a traceback."""
    try:
        yield
    except UserError:
        raise
    except (Exception, RecursionError) as exc:
        shown = str(path) if len(str(path)) <= 200 else str(path)[:197] + "..."
        first = next((line for line in str(exc).splitlines() if line.strip()), "")[:200]
        kind = type(exc)
        name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        detail = f"{name}: {first}" if first else name
        raise ParameterError(label, f"'{shown}' is not a usable {what} ({detail})") from None


def read_toml(path: str | Path, label: str = "file") -> dict:
    """The table in the TOML file ``path``; ``label`` names the option or key that gave the path."""
    data = read_file_bytes(path, label, MAX_TOML_BYTES, "TOML file")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ParameterError(label, f"{path} is not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(label, f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ParameterError(label, f"{path} nests tables or arrays too deeply") from None
    except ValueError as exc:    # e.g. an integer past Python's digit limit
        raise ParameterError(label, f"{path} is not usable TOML: {exc}") from None


# a preset name: letters, digits, '.', '_', '-' (never a path: no '/', no leading '.')
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MAX_NAME_CHARS = 100


def preset_names(directory: Path) -> list[str]:
    """The presets in ``directory``: the stems of its *.toml files."""
    return sorted(p.stem for p in Path(directory).glob("*.toml"))


def preset_path(directory: Path, name, label: str, kind: str = "preset") -> Path:
    """The file of preset ``name`` in ``directory``. Only a listed name is accepted, so a name
    can never reach a file outside the folder (no '..', '/', absolute path or huge string)."""
    names = preset_names(directory)
    ok = (isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS and not name.startswith(".")
          and set(name) <= _NAME_CHARS and name in names)
    if not ok:
        shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
        raise ParameterError(label, f"unknown {kind} {shown}; allowed: {', '.join(names)}")
    return Path(directory) / f"{name}.toml"


def load_preset_table(directory: Path, name, cls, label: str, kind: str = "preset"):
    """Build dataclass ``cls`` from preset ``name`` in ``directory``: every entry is checked
    against its field's declaration (core/schema.py), unknown and missing keys are errors, each
    naming the entry and the file."""
    path = preset_path(directory, name, label, kind)
    data = read_toml(path, label)

    def error(key: str, problem: str) -> ParameterError:
        return ParameterError(key, f"{problem} (in {kind} file {path.name})")
    return schema.build(cls, data, error=error)


# A user's own preset is named by an explicit path, never looked up as a name (as `hf:` names a
# model's config.json): `file:<path>.toml`
FILE_PREFIX = "file:"


def is_file_reference(name) -> bool:
    return isinstance(name, str) and name.startswith(FILE_PREFIX)


def absolute_file_reference(name: str) -> str:
    """``file:<path>`` with the path made absolute (against the current folder), so the same
    preset is read wherever the reference travels (a Ray worker may start in another folder)."""
    return FILE_PREFIX + str(Path(name[len(FILE_PREFIX):]).expanduser().absolute())


def file_version(name) -> tuple:
    """What changes when the file a file:<path> reference names is edited (modification time,
    size); () for a preset name or a file that cannot be read (its loader says why)."""
    if not is_file_reference(name):
        return ()
    try:
        st = Path(name[len(FILE_PREFIX):]).expanduser().stat()
    except (OSError, ValueError):
        return ()
    return (st.st_mtime_ns, st.st_size)


def load_file_table(reference: str, cls, label: str, kind: str = "preset"):
    """Build dataclass ``cls`` from the user's preset file ``file:<path>.toml`` with the checks a
    built-in preset gets (unknown keys, and every check of ``cls`` itself), each error naming the
    key and the file."""
    path = Path(reference[len(FILE_PREFIX):]).expanduser()
    shown = str(path) if len(str(path)) <= 200 else str(path)[:197] + "..."
    if path.suffix != ".toml":
        raise ParameterError(label, f"{reference[:200]!r}: a {kind} file is given as file:<path>.toml")
    data = read_toml(path, label)

    def error(key: str, problem: str) -> ParameterError:
        return ParameterError(key, f"{problem} (in {kind} file {shown})")
    try:
        with parsing(path, label, f"{kind} file"):
            return schema.build(cls, data, error=error)
    except ParameterError as exc:   # a cross-field check of the class: name its key and the file
        if f"(in {kind} file " in str(exc):
            raise
        raise ParameterError(exc.field, f"{str(exc).split(': ', 1)[-1]} (in {kind} file {shown})") from None
