"""Request traces for LLM serving: input/output lengths and arrival times.

Traces are seeded and reproducible. Sources: fixed lengths, the length statistics of
long-context benchmarks (models/llm/datasets.toml: a normal distribution with the
published mean and std, clipped to the published min and max), or a trace file: lolpim's CSV
(``input_tokens, output_tokens`` and optionally ``arrival_s``) or a published trace format
(trace_formats.py, docs/traces.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.core.presets import read_toml
from lolpim.models.llm.trace_formats import (MAX_ARRIVAL_S, MAX_TRACE_BYTES, MAX_TRACE_ROWS,  # noqa: F401
                                             MAX_TRACE_TOKENS, TRACE_FORMATS, read_trace_file)

DATASETS_FILE = Path(__file__).parent / "datasets.toml"
ARRIVALS = ("closed", "poisson")


@dataclass(frozen=True)
class DatasetStats:
    name: str
    input_mean: float
    input_std: float
    input_max: int
    input_min: int
    context_limit: int
    output_tokens_min: int
    output_tokens_max: int


@dataclass(frozen=True)
class Trace:
    """Column arrays, one entry per request, ordered by arrival."""
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    arrival_s: np.ndarray
    name: str = "trace"
    context_limit: int = 0      # longest context a request may reach (static KV reserves this)

    def __post_init__(self):
        n = len(self.input_tokens)
        if n == 0:
            raise ParameterError("requests", "a trace needs at least one request")
        if len(self.output_tokens) != n or len(self.arrival_s) != n:
            raise ParameterError("trace", "input_tokens, output_tokens and arrival_s must have equal length")
        if np.any(self.input_tokens < 1) or np.any(self.output_tokens < 1):
            raise ParameterError("trace", "every request needs >= 1 input and >= 1 output token")
        if np.any(np.diff(self.arrival_s) < 0) or np.any(self.arrival_s < 0):
            raise ParameterError("arrival_s", "arrivals must be >= 0 and sorted")
        if not np.all(self.arrival_s <= MAX_ARRIVAL_S):
            raise ParameterError("arrival_s", f"arrivals must lie within {MAX_ARRIVAL_S:.0e} s of simulated time, "
                                              f"got up to {np.max(self.arrival_s):.3g} s")

    def __len__(self) -> int:
        return len(self.input_tokens)

    def max_context(self) -> int:
        return int(np.max(self.input_tokens + self.output_tokens))

    def rows(self) -> list[dict]:
        return [{"request": i, "input_tokens": int(a), "output_tokens": int(b), "arrival_s": float(c)}
                for i, (a, b, c) in enumerate(zip(self.input_tokens, self.output_tokens, self.arrival_s))]


def dataset_names() -> list[str]:
    return sorted(read_toml(DATASETS_FILE, "dataset"))


def load_dataset(name: str) -> DatasetStats:
    table = read_toml(DATASETS_FILE, "dataset")
    if name not in table:
        raise ParameterError("dataset", f"unknown dataset {name!r}; available: {', '.join(sorted(table))}")
    return DatasetStats(name=name, **table[name])


def _arrivals(n: int, arrival: str, rate_per_s: float, rng: np.random.Generator) -> np.ndarray:
    if arrival == "closed":
        return np.zeros(n)
    if arrival == "poisson":
        if not rate_per_s > 0:
            raise ParameterError("arrival_rate_per_s", f"must be > 0 for Poisson arrivals, got {rate_per_s}")
        arrivals = np.cumsum(rng.exponential(1.0 / rate_per_s, n))
        if not arrivals[-1] <= MAX_ARRIVAL_S:
            raise ParameterError("workload.arrival_rate_per_s", f"{rate_per_s:g} per s spreads {n} requests over "
                                                                f"{arrivals[-1]:.3g} s; a trace spans at most "
                                                                f"{MAX_ARRIVAL_S:.0e} s of simulated time")
        return arrivals
    raise ParameterError("arrival", f"got {arrival!r}; allowed: {', '.join(ARRIVALS)}")


def fixed_trace(requests: int, input_tokens: int, output_tokens: int, arrival: str = "closed",
                arrival_rate_per_s: float = 0.0, seed: int = 0, context_limit: int | None = None) -> Trace:
    rng = np.random.default_rng(seed)
    return Trace(np.full(requests, input_tokens, dtype=np.int64), np.full(requests, output_tokens, dtype=np.int64),
                 _arrivals(requests, arrival, arrival_rate_per_s, rng), name=f"fixed-{input_tokens}+{output_tokens}",
                 context_limit=context_limit or input_tokens + output_tokens)


def dataset_trace(dataset: str, requests: int, arrival: str = "closed", arrival_rate_per_s: float = 0.0,
                  seed: int = 0, output_tokens: int | None = None) -> Trace:
    """Draw input lengths from a benchmark's published statistics (clipped normal)."""
    stats = load_dataset(dataset)
    rng = np.random.default_rng(seed)
    inputs = np.clip(np.rint(rng.normal(stats.input_mean, stats.input_std, requests)),
                     stats.input_min, stats.input_max).astype(np.int64)
    if output_tokens is None:
        outputs = rng.integers(stats.output_tokens_min, stats.output_tokens_max + 1, requests).astype(np.int64)
    else:
        outputs = np.full(requests, output_tokens, dtype=np.int64)
    limit = max(stats.context_limit, int(np.max(inputs + outputs)))
    return Trace(inputs, outputs, _arrivals(requests, arrival, arrival_rate_per_s, rng), name=dataset,
                 context_limit=limit)


def load_trace_file(path: str | Path, trace_format: str = "auto", time_scale: float = 1.0, limit: int = 0,
                    context_limit: int | None = None, label: str = "workload.csv_path") -> Trace:
    """A trace file in one of the formats of models/llm/trace_formats.py (docs/traces.md), named
    or detected from its header; ``limit`` > 0 takes its first rows; arrivals times ``time_scale``."""
    fmt, inp, out, arrivals = read_trace_file(path, trace_format, time_scale, limit, label)
    return Trace(inp, out, arrivals, name=Path(path).stem, context_limit=context_limit or int(np.max(inp + out)))


def load_trace_csv(path: str | Path, context_limit: int | None = None) -> Trace:
    """lolpim's own trace CSV (input_tokens, output_tokens, optional arrival_s)."""
    return load_trace_file(path, "lolpim", context_limit=context_limit)
