"""Writing results files atomically: a crash never leaves half a file behind."""
from __future__ import annotations

import csv
import io
import json
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


def write_json(path: str | Path, obj) -> Path:
    path = Path(path)
    _atomic_write(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
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
