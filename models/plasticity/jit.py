"""``njit``: numba's decorator, applied when a compiled function is first called.

Importing numba costs about half a second, which the CLI (it imports every command, and so the
plasticity models) and any command that never integrates a synapse should not pay. On the first
call of any function decorated here, numba is imported and every such function of every module
becomes a real numba dispatcher, its module global rebound to it, so compiled functions calling
each other see dispatchers exactly as with ``numba.njit`` at import.
"""
from __future__ import annotations

from typing import Any

_PENDING: list[_Deferred] = []


class _Deferred:
    def __init__(self, fn, options: dict):
        self.fn, self.options = fn, options
        self.compiled: Any = None      # the numba dispatcher, once compile_all has run
        self.__name__, self.__doc__, self.__wrapped__ = fn.__name__, fn.__doc__, fn

    def __call__(self, *args):
        if self.compiled is None:
            compile_all()
        return self.compiled(*args)


def compile_all() -> None:
    """Turn every deferred function into a numba dispatcher (compiled per signature on first use)."""
    import numba   # heavy: imported on first use only

    while _PENDING:
        d = _PENDING.pop()
        d.compiled = numba.njit(**d.options)(d.fn)
        if d.fn.__globals__.get(d.fn.__name__) is d:
            d.fn.__globals__[d.fn.__name__] = d.compiled


def njit(fn=None, **options):
    """``@njit`` or ``@njit(cache=True, ...)``, as numba.njit, compiled lazily."""
    def wrap(f):
        d = _Deferred(f, options)
        _PENDING.append(d)
        return d
    return wrap(fn) if fn is not None else wrap
