"""`lolpim version`: package, Python, Ray and numpy versions."""
from __future__ import annotations

import json
import platform
from importlib.metadata import PackageNotFoundError, version

import msgpack
import numpy


def package_version() -> str:
    try:
        return version("lolpim")
    except PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


def run(args) -> int:
    import ray
    info = {"lolpim": package_version(), "python": platform.python_version(),
            "ray": ray.__version__, "numpy": numpy.__version__,
            "msgpack": ".".join(map(str, msgpack.version))}
    if args.json:
        print(json.dumps(info))
    else:
        print(" ".join(f"{k} {v}" for k, v in info.items()))
    return 0


def register(sub) -> None:
    p = sub.add_parser("version", help="print versions of lolpim and its runtime")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
