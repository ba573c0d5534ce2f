"""The PIM cost model against SK hynix's cycle-level AiM simulator (an independent implementation).

Data: tests/data/aim_simulator_cycles.json, written by benchmarks/aim_simulator_check.py from a
build of github.com/arkhadem/aim_simulator (commit in the file); CI does not need the simulator.
Every row is one trace of ``gemv.py``'s command program (or one partitioning of
``attention.py``'s decode attention) run in two configurations of the simulator: as it is, and
with its register/MAC mode switch (TMOD, nMODCH = 32 tCK) made free. lolpim's controller has no
such mode; without it the simulator measures the array timing the model claims to reproduce.
lolpim is priced on the ``aim-gddr6`` organisation and timing with the row's channel count and
refresh off, because the simulator issues no refresh (checked below).

The tolerance is stated from what the data shows, per row, by mechanism
(``controller_allowance_tck`` in the benchmark; distribution in docs/hardware-pim.md, "Cross-check
against the AiM simulator"):

* Without the mode switch, lolpim is never slower than the simulator, and faster by at most
  what the in-order controller adds: per K-tile start the row close / open / tRCD that lolpim
  overlaps with the tile's global-buffer writes (nRP + nRCD + one slot), per RD_MAC one column
  slot for its round trip through the command DMA, which it blocks. Measured: every row that
  does not re-read a row (below) lies in that band; GEMV median -1.1%, worst -8.1%.
* Known miss: when a GEMV is one row pass per input vector (token-centric QK^T / SV at short
  contexts with GQA), the simulator keeps the row open for the next vector, lolpim re-opens it:
  lolpim +25% .. +71% slower (3 rows). Strict xfail, and a drift band on the documented errors.
* The simulator as it is, with TMOD twice per row pass and per K tile: lolpim is a lower bound
  (13-66% below); matching it within the allowance is a documented miss (strict xfail).
"""
from __future__ import annotations

import importlib.util
import json
import re
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from lolpim.hardware.pim import gemv_channel_schedule, load_pim_module, pim_module_names

ROOT = Path(__file__).resolve().parents[2]
DATA = json.loads((ROOT / "tests" / "data" / "aim_simulator_cycles.json").read_text())

_spec = importlib.util.spec_from_file_location("aim_simulator_check", ROOT / "benchmarks" / "aim_simulator_check.py")
check = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = check          # its dataclass looks its module up by name
_spec.loader.exec_module(check)

GEMV_ROWS = [r for r in DATA["rows"] if r["family"] == "gemv"]
ATTENTION_ROWS = [r for r in DATA["rows"] if r["family"] != "gemv"]
REUSED = [r for r in DATA["rows"] if check.program_counts(r)["row_reused"]]
FRESH = [r for r in DATA["rows"] if r not in REUSED]
# the documented errors (lolpim / sim - 1, nMODCH = 0) of the rows that re-read an open row
REUSED_DOCUMENTED = {"score-token-centric-llama3.1-8b-L2048x1-ch16": 0.247,
                     "score-token-centric-llama3.1-8b-L512x1-ch16": 0.712,
                     "context-token-centric-llama3.1-8b-L512x1-ch16": 0.461,
                     "context-token-centric-llama3.1-8b-L2048x1-ch16": -0.037}
DRIFT_BAND = 0.03       # absolute, around each documented error


def _row_id(row: dict) -> str:
    if row["family"] == "gemv":
        return f"{row['k_in']}x{row['n_out']}-ch{row['channels']}-b{row['batch']}"
    return (f"{row['family'][10:]}-{row['partitioning']}-{row['model']}"
            f"-L{row['context']}x{row['requests']}-ch{row['channels']}")


@cache
def _lolpim(index: int) -> float:
    return check.lolpim_tck(DATA["rows"][index])


def _ours(row: dict) -> float:
    return _lolpim(DATA["rows"].index(row))


def _error(row: dict, variant: str) -> float:
    return _ours(row) / row["sim"][variant]["cycles"] - 1


def _within_allowance(row: dict, variant: str) -> bool:
    gap = row["sim"][variant]["cycles"] - _ours(row)
    return 0 <= gap <= check.controller_allowance_tck(row)


def test_the_data_covers_the_required_grid():
    assert re.fullmatch(r"[0-9a-f]{40}", DATA["simulator"]["commit"])
    assert len(GEMV_ROWS) >= 30
    assert {r["channels"] for r in GEMV_ROWS} >= {1, 2, 4, 8, 16}
    for partitioning in ("head-first", "token-centric"):
        shapes = {(r["model"], r["context"], r["requests"], r["channels"]) for r in ATTENTION_ROWS
                  if r["partitioning"] == partitioning}
        assert len(shapes) >= 10
        for family in ("attention-score", "attention-context"):
            assert len([r for r in ATTENTION_ROWS if r["partitioning"] == partitioning and r["family"] == family]) \
                == len(shapes)
    assert all(set(r["sim"]) == {"as_is", "no_mode_switch"} for r in DATA["rows"])


# every preset built on the AiM device; neupims-hbm2-module is NeuPIMs' own HBM2 memory (its
# artifact's timing file), the published end of the NeuPIMs baseline, not an AiM device
AIM_PRESETS = [n for n in pim_module_names() if n != "neupims-hbm2-module"]


@pytest.mark.parametrize("name", AIM_PRESETS)
def test_every_preset_carries_the_simulators_current_aim_timing(name):
    """The presets' DRAM timing is GDDR6_AiM_timing of the simulator commit the data was made
    with (read from its source by the benchmark). Regenerating the data from a simulator whose
    table changed fails here until the presets follow (or the docs say why not)."""
    table, spec = DATA["simulator"]["timing_table"], load_pim_module(name)
    for field, names in check.TIMING_FIELDS.items():
        assert all(getattr(spec, field) == table[n] for n in names), field
    assert spec.tck_s == pytest.approx(table["tCK_ps"] * 1e-12)


def test_the_simulator_issued_no_refresh():
    """The comparison runs lolpim with refresh off because the simulator never refreshes (its
    all-bank refresh manager iterates a "rank" level that GDDR6 lacks). A simulator that does
    refresh must be compared with refresh on: this fails then."""
    assert all(r["sim"][v]["ch0"]["num_REFab"] == 0 for r in DATA["rows"] for v in r["sim"])


@pytest.mark.parametrize("row", GEMV_ROWS, ids=_row_id)
def test_gemv_command_counts_equal_the_simulator(row):
    """Channel 0 is the busiest channel of the round-robin placement: the simulator executed
    exactly lolpim's row activations, MAC columns and global-buffer writes (one RD_MAC drains a
    segment's 16 outputs where lolpim's 4 B registers take r = 2 RD-OUTs)."""
    spec = check.lolpim_spec(row["channels"])
    n_busiest = int(check.outputs_per_bank(row["channels"], spec.banks_per_channel, row["n_out"]).max())
    ours = gemv_channel_schedule(spec, row["k_in"], n_busiest, row["batch"], 16)
    for variant in row["sim"].values():
        sim = variant["ch0"]
        assert (sim["num_ACT16"], sim["num_MAC16"], sim["num_WRGB"]) == \
            (int(ours["acts"]), int(ours["macs"]), int(ours["wrinps"]))
        assert sim["num_RDMAC16"] * 2 == int(ours["rdouts"])


@pytest.mark.parametrize("row", FRESH, ids=_row_id)
def test_array_timing_matches_the_simulator_without_mode_switches(row):
    gap = row["sim"]["no_mode_switch"]["cycles"] - _ours(row)
    assert 0 <= gap <= check.controller_allowance_tck(row), \
        f"lolpim {_error(row, 'no_mode_switch'):+.2%}, gap {gap:.0f} tCK, " \
        f"allowance {check.controller_allowance_tck(row)}"


def test_the_gemv_family_error_distribution():
    """The figures the docs quote for GEMV (nMODCH = 0): median -1.1%, worst -8.1%."""
    e = np.array([_error(r, "no_mode_switch") for r in GEMV_ROWS])
    assert -0.015 <= np.median(e) <= 0.0
    assert e.min() >= -0.085 and e.max() <= 0.0


@pytest.mark.xfail(strict=True, reason="known miss: a GEMV of one row pass per input vector re-opens the row "
                   "for every vector in lolpim; the simulator keeps it open (token-centric attention, "
                   "GQA, <= 2K tokens on 16 x 16): lolpim +25% / +46% / +71% (docs/hardware-pim.md)")
def test_rows_read_again_by_the_next_vector():
    assert all(_within_allowance(r, "no_mode_switch") for r in REUSED)


def test_rows_read_again_stay_within_their_documented_drift_band():
    assert {_row_id(r) for r in REUSED} == set(REUSED_DOCUMENTED)
    for row in REUSED:
        documented = REUSED_DOCUMENTED[_row_id(row)]
        assert abs(_error(row, "no_mode_switch") - documented) <= DRIFT_BAND, _row_id(row)


@pytest.mark.parametrize("row", DATA["rows"], ids=_row_id)
def test_idealised_controller_is_a_lower_bound_of_the_aim_controller(row):
    """The simulator as it is: an in-order controller with a TMOD mode switch (nMODCH = 32 tCK)
    around every RD_MAC and WR_GB. lolpim's idealised controller never takes longer."""
    assert _error(row, "as_is") < 0.0


@pytest.mark.xfail(strict=True, reason="known miss: lolpim does not model the AiM controller's register/MAC "
                   "mode switch (TMOD, nMODCH = 32 tCK, twice per row pass and per K tile): against the "
                   "simulator as it is lolpim is 13-66% faster (median GEMV -20.7%, QK^T -66%)")
def test_matches_the_simulator_as_it_is():
    assert all(_within_allowance(r, "as_is") for r in FRESH)


def test_docs_block_follows_the_data():
    spec = importlib.util.spec_from_file_location("docs_figures", ROOT / "benchmarks" / "docs_figures.py")
    docs_figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(docs_figures)
    assert docs_figures.read_block(check.DOCS, check.DOCS_BLOCK).strip() == check.summary(DATA).strip()
