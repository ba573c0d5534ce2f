"""Request traces for LLM serving: input/output lengths and arrival times.

Traces are seeded and reproducible. Sources: fixed lengths, the length statistics of
long-context benchmarks (models/llm/datasets.toml: a normal distribution with the
published mean and std, clipped to the published min and max), or a user's CSV with
columns ``input_tokens, output_tokens`` and optionally ``arrival_s``.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.core.presets import read_toml

DATASETS_FILE = Path(__file__).parent / "datasets.toml"
ARRIVALS = ("closed", "poisson")
MAX_TRACE_ROWS = 1_000_000     # as workload.requests: a longer trace is refused before it is read in full
MAX_TRACE_TOKENS = 10_000_000  # per request and column, as workload.input_tokens
MAX_TRACE_BYTES = 256 * 2**20  # 1M rows of a few columns take ~20-50 MB
# simulated time is counted in picoseconds in 64 bits (~107 days); a trace spans at most this
MAX_ARRIVAL_S = 1e6


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


def _csv_row(path: Path, line: int, row: dict) -> tuple[int, int, float]:
    """One request of a trace CSV, checked: whole token counts in 1 .. MAX_TRACE_TOKENS and a
    finite arrival time >= 0."""
    try:
        if None in row or None in row.values():
            raise ValueError
        inp, out = int(row["input_tokens"]), int(row["output_tokens"])
        arrival = float(row.get("arrival_s") or 0.0)
        if not (1 <= inp <= MAX_TRACE_TOKENS and 1 <= out <= MAX_TRACE_TOKENS and 0 <= arrival <= MAX_ARRIVAL_S):
            raise ValueError
    except ValueError:
        raise ParameterError("workload.csv_path", f"'{path}' line {line}: needs whole numbers 1 .. {MAX_TRACE_TOKENS} "
                                                  f"for input_tokens and output_tokens and an arrival_s of 0 .. {MAX_ARRIVAL_S:.0e}, "
                                                  f"one value per column; got {dict(row)}"[:300]) from None
    return inp, out, arrival


def load_trace_csv(path: str | Path, context_limit: int | None = None) -> Trace:
    """A trace CSV (UTF-8, at most MAX_TRACE_ROWS requests); every problem is a ParameterError
    naming workload.csv_path and the line."""
    path = Path(path)
    rows = []
    try:
        if path.is_file() and path.stat().st_size > MAX_TRACE_BYTES:
            raise ParameterError("workload.csv_path", f"'{path}' is over {MAX_TRACE_BYTES >> 20} MiB: "
                                                      f"a trace holds at most {MAX_TRACE_ROWS:,} requests")
        if path.exists() and not path.is_file():
            raise ParameterError("workload.csv_path", f"'{path}' is not a regular file; give a CSV file")
        # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte-order mark, which would
        # otherwise be part of the first column's name
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = {"input_tokens", "output_tokens"} - set(reader.fieldnames or [])
            if missing:
                raise ParameterError("workload.csv_path", f"'{path}' lacks column(s) {', '.join(sorted(missing))}; "
                                                          "needs input_tokens, output_tokens and optionally arrival_s")
            for line, row in enumerate(reader, start=2):
                if len(rows) == MAX_TRACE_ROWS:
                    raise ParameterError("workload.csv_path", f"'{path}' has more than {MAX_TRACE_ROWS:,} requests "
                                                              f"(the most a trace may have, as workload.requests)")
                rows.append(_csv_row(path, line, row))
    except OSError as exc:
        raise ParameterError("workload.csv_path", f"cannot read '{path}': {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ParameterError("workload.csv_path", f"'{path}' is not UTF-8 text (byte {exc.start})") from None
    except csv.Error as exc:
        raise ParameterError("workload.csv_path", f"'{path}' is not a valid CSV file: {exc}") from None
    if not rows:
        raise ParameterError("workload.csv_path", f"'{path}' holds no requests")
    inputs, outputs, arrivals = (np.asarray(col) for col in zip(*rows))
    order = np.argsort(arrivals, kind="stable")
    inp, out = inputs.astype(np.int64)[order], outputs.astype(np.int64)[order]
    return Trace(inp, out, arrivals.astype(float)[order], name=path.stem,
                 context_limit=context_limit or int(np.max(inp + out)))
