"""Every baseline at both ends of its bracket (issue 21): which extra runs a comparison needs,
and LoL-PIM's speedup over each baseline as [vs best, vs published] for the JSON, CSV and table
(each bracketed row's ``SystemResult.bracket``).

The ends are data (each kind's baseline_ends in the registry; the built-in ones in
hardware/systems/config.py BASELINE_ENDS); orchestration/llm/compare.py runs them beside the rows
and calls attach_bracket on each bracketed row.
"""
from __future__ import annotations

import math
import textwrap
from dataclasses import replace

from lolpim.hardware.systems.config import BRACKET_ENDS
from lolpim.orchestration.llm import registry
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.result_types import BestNotFaster, BracketEnd, SystemResult

BRACKET_DEFINITION = ("speedup bracket = [vs the baseline at its best, vs the baseline as published] "
                      "(hardware/systems/config.py BASELINE_ENDS)")


def end_config(cfg: RunConfig, kind: str, end: str) -> RunConfig:
    """``cfg`` with baseline ``kind``'s table set to one end of its bracket (its baseline_ends)."""
    return cfg.with_table(kind, replace(cfg.table(kind), **registry.bracketed()[kind][end]))


def bracket_runs(cfg: RunConfig, kinds) -> list[tuple[int, str, RunConfig]]:
    """(row index, end, config) of every bracket end a comparison must run besides its rows: for
    each baseline with BASELINE_ENDS, the ends whose config differs from the row's own, when the
    run has a LoL-PIM system to compare with and ``cfg.bracket`` is on."""
    if not cfg.bracket or not any(k in kinds for k in registry.speedup_references()):
        return []
    out = []
    for i, kind in enumerate(kinds):
        for end in BRACKET_ENDS if kind in registry.bracketed() else ():
            end_cfg = end_config(cfg, kind, end)
            if end_cfg.table(kind) != cfg.table(kind):
                out.append((i, end, end_cfg))
    return out


def ratio(reference: SystemResult | None, s: SystemResult) -> float:
    return reference.throughput_tokens_per_s / s.throughput_tokens_per_s if reference else math.nan


def attach_bracket(s: SystemResult, kind: str, cfg: RunConfig, runs: dict[str, SystemResult],
                   reference: SystemResult) -> SystemResult:
    """Baseline row ``s`` with its bracket: ``bracket`` {end: that end's run (the row itself where
    the row is that end), its config keys and LoL-PIM's speedup over it} and ``speedup_bracket``
    (vs best, vs published). A best end slower than the published one on this run is not
    credited: the published run counts as best too (``best_not_faster``)."""
    own = cfg.table(kind)
    ends = registry.bracketed()[kind]
    bracket = {end: BracketEnd(run=runs[end], end_config=dict(ends[end]), is_row=runs[end] is s,
                               speedup=ratio(reference, runs[end]))
               for end in BRACKET_ENDS}
    published, best = bracket["published"], bracket["best"]
    if best.run.throughput_tokens_per_s < published.run.throughput_tokens_per_s:
        bracket["best"] = replace(published, end_config=best.end_config, best_not_faster=BestNotFaster(
            _end_name(best), best.run.attention_mapping, best.run.throughput_tokens_per_s))
    row_end = next((end for end in BRACKET_ENDS if end_config(cfg, kind, end).table(kind) == own), None)
    return replace(s, bracket=bracket, row_end=row_end,
                   speedup_bracket=(bracket["best"].speedup, bracket["published"].speedup))


def table_rows(systems) -> list[tuple[str, SystemResult]]:
    """(label, result) of every line of the table: each system, and under a bracketed baseline
    the end(s) of its bracket that are not the row itself ("cent best"), with LoL-PIM's speedup
    over that end."""
    out = []
    for s in systems:
        out.append((s.system, s))
        for other, end in (s.bracket or {}).items():
            if not end.is_row:
                out.append((f"{s.system} {other}", replace(end.run, speedup=end.speedup)))
    return out


def _end_name(end: BracketEnd) -> str:
    """What distinguishes a bracket end, in a word: its attention mapping (PIM systems) or its
    config keys and values (e.g. "attention_placement=hbm-pim")."""
    return end.run.attention_mapping or ", ".join(f"{k}={v}" for k, v in end.end_config.items())


def bracket_lines(systems, speedup_reference: str | None) -> list[str]:
    lines = []
    for s in systems:
        if s.speedup_bracket is None:
            continue
        best, published = s.bracket["best"], s.bracket["published"]
        lo, hi = s.speedup_bracket
        pub = f"published ({_end_name(published)}) {published.run.throughput_tokens_per_s:.1f} tok/s"
        if best.best_not_faster is not None:
            slower = best.best_not_faster
            ends = f"{pub}, also best ({slower.name}: {slower.throughput_tokens_per_s:.1f} tok/s)"
        else:
            ends = f"best ({_end_name(best)}) {best.run.throughput_tokens_per_s:.1f} tok/s, {pub}"
        row = "" if s.row_end is None else f"; row = {s.row_end}"
        # one line per baseline, wrapped under itself so the table stays within 120 columns
        lines += textwrap.wrap(f"{s.system}: [{lo:.2f}x, {hi:.2f}x]: {ends}{row}", 120, initial_indent="  ",
                               subsequent_indent="    ", break_on_hyphens=False)
    if not lines:
        return []
    return [f"{speedup_reference} speedup bracket [vs best, vs published]:", *lines]
