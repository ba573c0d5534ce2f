"""Writing output files atomically: a crash or a full disk never leaves half a file behind.

Every output file of every command goes through here: it is written to a temporary file in the
same folder (created exclusively, so never through a link), flushed to disk, then renamed over
the final name. A rename replaces a symbolic link planted at that name instead of writing
through it, and a write that fails (no space, no permission, ...) leaves the previous file as it
was and becomes one line naming the file and the OS's reason (``OutputError``, exit code 2).
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from lolpim.core.errors import UserError


class OutputError(UserError):
    """An output file could not be written; the previous file at that name is unchanged."""

    def __init__(self, path: Path, exc: OSError, existed: bool):
        reason = exc.strerror or str(exc)
        kept = "the previous file there is kept unchanged" if existed else "nothing was written there"
        super().__init__(f"cannot write {str(path)[:300]}: {reason}; {kept}")


def _umask() -> int:
    mask = os.umask(0o022)   # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w"):
    """A file handle (``mode`` "w" text or "wb" bytes) whose content replaces ``path`` in one
    rename when the block ends; if the block raises, ``path`` is untouched and the temporary
    file removed. An OSError (from the block's writes too) becomes ``OutputError``."""
    path = Path(path)
    existed = os.path.lexists(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        # mkstemp creates 0600; an output file gets the mode open() would give it (0666 & ~umask)
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode, newline="" if "b" not in mode else None) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)   # replaces a link at `path` itself: its target is never opened
        tmp = None
    except OSError as exc:
        raise OutputError(path, exc, existed) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return path


def write_text(path: str | Path, text: str) -> Path:
    path = Path(path)
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return path



def save_figure(fig, path: str | Path, **savefig_kwargs) -> Path:
    """``fig.savefig`` rendered in memory, then written atomically (matplotlib itself opens the
    final name, following a link there, and leaves a partial file when the disk fills)."""
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=savefig_kwargs.pop("format", path.suffix.lstrip(".") or "png"), **savefig_kwargs)
    return write_bytes(path, buf.getvalue())


def save_npz(path: str | Path, **arrays) -> Path:
    """``numpy.savez`` to memory, then written atomically."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return write_bytes(path, buf.getvalue())


def json_safe(obj):
    """``obj`` with every NaN/Infinity as None: JSON has neither (Python's bare NaN is not JSON)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def json_text(obj, **kwargs) -> str:
    """Strict JSON of ``obj``: NaN and Infinity written as null."""
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


def write_json(path: str | Path, obj) -> Path:
    path = Path(path)
    write_text(path, json_text(obj, indent=2, sort_keys=False) + "\n")
    return path


def write_csv(path: str | Path, rows: list[dict], fields: list[str] | None = None) -> Path:
    """Rows of dicts as CSV: the columns are ``fields``, or every key in order of first use."""
    path = Path(path)
    buf = io.StringIO()
    if rows or fields:
        if fields is None:
            fields = list(rows[0])
            for r in rows[1:]:
                fields.extend(k for k in r if k not in fields)
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    write_text(path, buf.getvalue())
    return path


def write_table_csv(path: str | Path, header: list, rows) -> Path:
    """A header and rows of values as CSV."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return write_text(path, buf.getvalue())
