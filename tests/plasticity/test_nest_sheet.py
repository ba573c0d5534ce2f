"""The NEST anchor builds the sheet lolpim simulates (benchmarks/nest_sheet.py export_sheet), and the
anchors-sheet docs part skips cleanly without NEST. None of this needs NEST."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.plasticity import od_map as actors
from lolpim.models.plasticity import cascade
from lolpim.models.plasticity import od_map as om

ROOT = Path(__file__).resolve().parents[2]


def bench(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


nest_sheet = bench("nest_sheet")


def test_the_export_has_the_sheets_neurons_synapses_and_lateral_wiring():
    size, s = 16, 3
    net = nest_sheet.export_sheet(size, s, 0.5, seed=1)
    cfg, variant = om.load_sheet(size=size, synapses_per_eye=s, binocular_s=0.5, sample_interval_s=0.5)
    lat = om.lateral(cfg)
    m = net["meta"]
    assert (m["neurons"], m["plastic_synapses"], m["lateral_per_neuron"]) == (256, 2 * 256 * s, lat.count)
    assert lat.count == 112                                       # the preset's radius of 6 (docs/od-map.md)
    src, tgt = net["lateral_source"], net["lateral_target"]
    assert src.size == 256 * lat.count and not np.any(src == tgt)
    np.testing.assert_array_equal(np.bincount(tgt, minlength=256), lat.count)     # a torus: every in-degree
    assert set(np.unique(net["lateral_delay_ms"])) <= set(range(1, 6))
    # the same connections as the tiles' own expansion of a spike from every neuron (one tile: the sheet)
    t, local, w, source = om.expand_lateral(np.zeros(256), np.arange(256), om.tiling(size, 1, 1)[0], lat, size)
    delay = np.rint(t * 1e3).astype(np.int64)
    mine = sorted(zip(source.tolist(), local.tolist(), w.tolist(), delay.tolist()))
    theirs = sorted(zip(src.tolist(), tgt.tolist(), net["lateral_weight_mV"].tolist(),
                        net["lateral_delay_ms"].tolist()))
    assert mine == theirs
    # inputs: synapse k = neuron k // 2S, eye (k // S) % 2, exactly the model's spike trains
    syn, times = net["input_synapse"], net["input_t_s"]
    for neuron, eye in ((0, 0), (37, 1), (255, 1)):
        ev = om.events(cfg, 1, eye, 0)
        want_t, want_s = om.neuron_spikes(cfg, 1, neuron, eye, 0, ev)
        mask = syn // s == 2 * neuron + eye
        got = sorted(zip(times[mask].tolist(), (syn[mask] % s).tolist()))
        assert got == sorted(zip(want_t.tolist(), want_s.tolist())) and got
    assert m["epsp_mV"] == pytest.approx(variant.neuron.eye_epsp_mV / s)
    summary = nest_sheet.input_summary(net)
    assert summary["lateral_synapses"] == 256 * 112 and summary["synapse_events"] == times.size
    assert 0.5 < summary["mean_input_rate_hz"] < 10


def test_the_export_holds_every_synapse_event_the_lolpim_run_counts():
    size, s, seconds = 4, 5, 0.6
    net = nest_sheet.export_sheet(size, s, seconds, seed=3)
    cfg, variant = om.load_sheet(size=size, synapses_per_eye=s, binocular_s=seconds, sample_interval_s=seconds)
    run = InlineExecutor().run(actors.sheet_system(cascade.load_params("cortical"), cfg, variant, 3, 2, 1))
    assert actors.collect(run.results, size)["events"] == net["input_t_s"].size > 0


def test_bad_flags_exit_2():
    for argv in (["--sizes", "x"], ["--sizes", "0"], ["--synapses", "0"], ["--nest-configs", '[["gpu", 0.1, "x"]]']):
        with pytest.raises(SystemExit) as e:
            nest_sheet.main(argv)
        assert e.value.code == 2, argv


def test_the_anchors_block_is_the_stored_figures():
    anchors = bench("sheet_anchors")
    docs_figures = bench("docs_figures")
    stored = json.loads(anchors.STORE.read_text())
    assert docs_figures.read_block(anchors.DOC, anchors.BLOCK) == anchors.table(stored)
    for row in stored["nest"]:                      # every timing carries its machine load
        for entry in [*row["nest"], row["lolpim"]]:
            assert len(entry["load_before"]) == 3 and len(entry["load_after"]) == 3


def test_the_anchors_part_skips_without_nest(monkeypatch, capsys, tmp_path):
    anchors = bench("sheet_anchors")
    monkeypatch.setenv("LOLPIM_NEST_PYTHON", str(tmp_path / "no-python"))
    before = anchors.DOC.read_text()
    assert anchors.main(["--docs"]) == 0
    assert "skipped: no NEST interpreter" in capsys.readouterr().out
    assert anchors.DOC.read_text() == before


@pytest.mark.slow
@pytest.mark.skipif(nest_sheet.nest_python() is None, reason="no NEST virtualenv (make nest-venv)")
def test_nest_runs_the_exported_sheet_with_the_same_inputs_and_somata():
    """Where NEST is installed: its network has every plastic synapse, sees every synapse-event of the
    export, and its somata fire at lolpim's rate to within a quarter (same somata, inputs and wiring;
    only the plasticity differs, and over 1 s the weights move little)."""
    row = nest_sheet.compare(8, 20, 1.0, 0, nest_sheet.nest_python(),
                             [("injector", 0.1, "stdp_synapse"), ("injector", 0.1, "static_synapse")])
    lolpim_rate = row["lolpim"]["post_rate_hz"]
    assert lolpim_rate > 0.2
    for n in row["nest"]:
        assert n["plastic_connections"] == row["plastic_synapses"] == 2 * 64 * 20
        assert n["synapse_events"] == row["synapse_events"] == row["lolpim"]["synapse_events"]
        assert n["lateral_events"] == n["post_spikes"] * row["lateral_per_neuron"]
        assert abs(n["post_rate_hz"] - lolpim_rate) <= 0.25 * lolpim_rate
        assert len(n["load_before"]) == 3
