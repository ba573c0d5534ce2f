"""Writing results files atomically: a crash never leaves half a file behind."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)   # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600; a results file gets the mode open() would give it (0666 & ~umask),
        # like the plots matplotlib writes beside it
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
    _atomic_write(path, json_text(obj, indent=2, sort_keys=False) + "\n")
    return path


def write_csv(path: str | Path, rows: list[dict]) -> Path:
    path = Path(path)
    buf = io.StringIO()
    if rows:
        fields = list(rows[0])
        for r in rows[1:]:
            fields.extend(k for k in r if k not in fields)
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    _atomic_write(path, buf.getvalue())
    return path
