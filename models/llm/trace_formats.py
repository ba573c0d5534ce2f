"""Request traces from files in the formats people already have (docs/traces.md).

Each format names the columns that give a request's prompt length, its output length and its
arrival time, and the unit of that time. A file's format is named or detected from its header
(a CSV's first line, or a JSON object on a JSONL file's first line). Arrivals become seconds,
shifted so the earliest request taken arrives at 0 (the published traces count from a wall
clock or an arbitrary origin), then multiplied by ``time_scale``; lolpim's own CSV keeps its
arrival_s as written (only scaled). ``limit`` takes the first rows of the file, in file order.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.core.presets import parsing

MAX_TRACE_ROWS = 1_000_000     # as workload.requests: a longer trace is refused before it is read in full
MAX_TRACE_TOKENS = 10_000_000  # per request and column, as workload.input_tokens
MAX_TRACE_BYTES = 256 * 2**20  # read in full only up to this; a row limit reads the first rows of any size
# simulated time is counted in picoseconds in 64 bits (~107 days); a trace spans at most this
MAX_ARRIVAL_S = 1e6


@dataclass(frozen=True)
class TraceFormat:
    name: str
    input_column: str
    output_column: str
    time_column: str | None      # None: lolpim's optional arrival_s (missing: every request at 0)
    time_unit: str               # "s", "ms" or "datetime" (ISO 8601 text, e.g. 2023-11-16 18:15:46.6805900)
    jsonl: bool = False
    skip_zero_output: bool = False   # failed requests logged with no output are left out
    origin_shift: bool = True        # arrivals counted from the earliest request taken

    def columns(self) -> tuple[str, ...]:
        return tuple(c for c in (self.time_column, self.input_column, self.output_column) if c)


FORMATS = {f.name: f for f in (
    TraceFormat("lolpim", "input_tokens", "output_tokens", None, "s", origin_shift=False),
    # Azure LLM inference traces 2023/2024 (AzurePublicDataset): TIMESTAMP is a date-time string
    TraceFormat("azure", "ContextTokens", "GeneratedTokens", "TIMESTAMP", "datetime"),
    # BurstGPT: Timestamp in seconds from the trace's start; failures carry 0 response tokens
    TraceFormat("burstgpt", "Request tokens", "Response tokens", "Timestamp", "s", skip_zero_output=True),
    # Mooncake (FAST'25) JSONL: one object a line, timestamp in milliseconds
    TraceFormat("mooncake", "input_length", "output_length", "timestamp", "ms", jsonl=True),
    # vidur's trace CSV (its trace-replay request generator): arrived_at in seconds
    TraceFormat("vidur", "num_prefill_tokens", "num_decode_tokens", "arrived_at", "s"),
)}
TRACE_FORMATS = ("auto", *FORMATS)
EPOCH = datetime(1970, 1, 1)


def detect(fields: list[str] | None, jsonl: bool) -> TraceFormat | None:
    """The format whose columns ``fields`` has (a JSONL file's first object's keys), or None."""
    have = set(fields or [])
    for fmt in FORMATS.values():
        if fmt.jsonl == jsonl and {fmt.input_column, fmt.output_column} <= have \
                and (fmt.time_column is None or fmt.time_column in have):
            return fmt
    return None


def _what_formats() -> str:
    return "; ".join(f"{f.name}: {', '.join(f.columns())}" + (" (JSONL)" if f.jsonl else "")
                     for f in FORMATS.values())


def _seconds(fmt: TraceFormat, raw) -> float:
    if fmt.time_unit == "datetime":
        # a time without a zone is counted as written (not in this machine's zone, whose daylight
        # saving would otherwise move arrivals); one with a zone in UTC
        when = datetime.fromisoformat(str(raw).strip())
        if when.tzinfo is not None:
            when = when.astimezone(timezone.utc).replace(tzinfo=None)
        return (when - EPOCH).total_seconds()
    value = float(raw)
    return value / 1000.0 if fmt.time_unit == "ms" else value


def _tokens(raw) -> int:
    if isinstance(raw, bool) or raw is None:
        raise ValueError
    value = float(raw) if isinstance(raw, float) or (isinstance(raw, str) and "." in raw) else int(raw)
    if value != int(value):
        raise ValueError
    return int(value)


def _count(raw, low: int) -> int:
    value = _tokens(raw)
    if not low <= value <= MAX_TRACE_TOKENS:
        raise ValueError
    return value


def _arrival(fmt: TraceFormat, raw) -> float:
    if fmt.time_column is None and raw in (None, ""):
        return 0.0    # lolpim's arrival_s is optional
    value = _seconds(fmt, raw)
    if not (np.isfinite(value) and (fmt.time_unit == "datetime" or value >= 0)):
        raise ValueError
    return value


def _request(path: Path, label: str, fmt: TraceFormat, line: int, row: dict) -> tuple[int, int, float] | None:
    """One row, checked column by column: an error names the file, the line and the column. None
    for a failed request the format leaves out (skip_zero_output)."""
    if None in row:
        raise ParameterError(label, f"'{path}' line {line}: more values than the header has columns")
    low_out = 0 if fmt.skip_zero_output else 1
    when = "an ISO 8601 date and time" if fmt.time_unit == "datetime" else f"a time in {fmt.time_unit} >= 0"
    readers = ((fmt.input_column, f"a whole number 1 .. {MAX_TRACE_TOKENS}", lambda raw: _count(raw, 1)),
               (fmt.output_column, f"a whole number {low_out} .. {MAX_TRACE_TOKENS}", lambda raw: _count(raw, low_out)),
               (fmt.time_column or "arrival_s", when, lambda raw: _arrival(fmt, raw)))
    values: list[Any] = []
    for column, allowed, read in readers:
        raw = row.get(column)
        try:
            values.append(read(raw))
        except (ValueError, TypeError, OverflowError):
            raise ParameterError(label, f"'{path}' line {line}, column {column!r}: needs {allowed}, "
                                        f"got {repr(raw)[:60]}") from None
    inp, out, arrival = values
    return None if out == 0 else (inp, out, arrival)


def _rows(fh, path: Path, label: str, fmt_name: str):
    """(format, iterator of (line, row dict)) of an open file."""
    first = fh.readline()
    jsonl = first.lstrip().startswith("{")
    if jsonl:
        def rows():
            for line, text in enumerate(itertools.chain([first], fh), start=1):
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ParameterError(label, f"'{path}' line {line} is not a JSON object: {exc.msg}") from None
                if not isinstance(obj, dict):
                    raise ParameterError(label, f"'{path}' line {line} is not a JSON object")
                yield line, obj
        it = rows()
        line, head = next(it)
        fields = list(head)
        it = itertools.chain([(line, head)], it)
    else:
        reader = csv.DictReader(io.StringIO(first))
        fields = list(reader.fieldnames or [])
        reader = csv.DictReader(fh, fieldnames=fields)
        it = ((line, row) for line, row in enumerate(reader, start=2))
    if fmt_name == "auto":
        fmt = detect(fields, jsonl)
        if fmt is None:
            raise ParameterError(label, f"'{path}': cannot tell its trace format from its "
                                        f"{'first JSON object' if jsonl else 'header'} ({', '.join(fields)[:120]}); "
                                        f"needs the columns of one of {_what_formats()}")
    else:
        fmt = FORMATS[fmt_name]
        missing = [c for c in fmt.columns() if c not in fields]
        if missing or fmt.jsonl != jsonl:
            what = f"is {'JSONL' if jsonl else 'CSV'}, not {'JSONL' if fmt.jsonl else 'CSV'}," if fmt.jsonl != jsonl \
                else f"lacks column(s) {', '.join(missing)}"
            raise ParameterError(label, f"'{path}' {what} for trace format {fmt.name} "
                                        f"(needs {', '.join(fmt.columns())})")
    return fmt, it


def read_trace_file(path: str | Path, fmt: str = "auto", time_scale: float = 1.0, limit: int = 0,
                    label: str = "workload.csv_path") -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(format name, input tokens, output tokens, arrival s) of the trace file ``path``, ordered
    by arrival; ``limit`` > 0 takes at most that many requests (the file's first rows). Every
    problem is a ParameterError naming ``label``, the file and, for a bad value, line and column."""
    if fmt not in TRACE_FORMATS:
        raise ParameterError("workload.trace_format", f"got {fmt!r}; allowed: {', '.join(TRACE_FORMATS)}")
    if not (time_scale > 0 and np.isfinite(time_scale)):
        raise ParameterError("workload.time_scale", f"must be a number > 0, got {time_scale!r}")
    path = Path(path)
    taken: list[tuple[int, int, float]] = []
    with parsing(path, label, "trace file"):
        try:
            if path.exists() and not path.is_file():
                raise ParameterError(label, f"'{path}' is not a regular file; give a trace file")
            if not limit and path.is_file() and path.stat().st_size > MAX_TRACE_BYTES:
                raise ParameterError(label, f"'{path}' is over {MAX_TRACE_BYTES >> 20} MiB: take its first rows "
                                            f"with workload.trace_requests (a trace holds at most "
                                            f"{MAX_TRACE_ROWS:,} requests)")
            # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte-order mark, which would
            # otherwise be part of the first column's name
            with path.open(newline="", encoding="utf-8-sig") as fh:
                found, rows = _rows(fh, path, label, fmt)
                for line, row in rows:
                    if limit and len(taken) == limit:
                        break
                    if len(taken) == MAX_TRACE_ROWS:
                        raise ParameterError(label, f"'{path}' has more than {MAX_TRACE_ROWS:,} requests (the most "
                                                    f"a trace may have); take fewer with workload.trace_requests")
                    request = _request(path, label, found, line, row)
                    if request:
                        taken.append(request)
        except OSError as exc:
            raise ParameterError(label, f"cannot read '{path}': {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise ParameterError(label, f"'{path}' is not UTF-8 text (byte {exc.start})") from None
        except csv.Error as exc:
            raise ParameterError(label, f"'{path}' is not a valid CSV file: {exc}") from None
    if not taken:
        raise ParameterError(label, f"'{path}' holds no requests")
    inputs, outputs, arrivals = (np.asarray(col) for col in zip(*taken))
    arrivals = arrivals.astype(float)
    if found.origin_shift:
        arrivals = arrivals - arrivals.min()
    arrivals = arrivals * time_scale
    if not np.all(arrivals <= MAX_ARRIVAL_S):
        raise ParameterError(label, f"'{path}' spans {np.max(arrivals):.3g} s after time scaling; a trace spans "
                                    f"at most {MAX_ARRIVAL_S:.0e} s of simulated time (workload.time_scale "
                                    f"compresses it)")
    order = np.argsort(arrivals, kind="stable")
    return found.name, inputs.astype(np.int64)[order], outputs.astype(np.int64)[order], arrivals[order]
