"""The window cost model on the cortical sheet (benchmarks/window_model.py, issue 24): its counts
come from the tile layout and the run's firing, and they are the executor's own counts."""
import sys
from pathlib import Path

import pytest

from lolpim.actors.plasticity import od_map as sheet_actors
from lolpim.orchestration.plasticity.od_map import process_of_tiles

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))
try:
    import window_cost
    import window_model
finally:
    sys.path.remove(str(BENCH))

SMALL = window_cost.SheetShape(size=8, synapses=20, seconds=0.3, tiles=4)     # fires 17 spikes


def _reached(shape):
    tiles, reached = window_model.sheet_tiles(shape)
    return tiles, reached


def test_every_tile_firing_every_window_crosses_as_the_layout_says():
    """With every tile firing in every window, a window's cross-process messages are the (tile,
    tile it reaches) pairs in different processes, counted from the actors' own peers."""
    shape = window_cost.SheetShape(size=16, synapses=4, seconds=1.0, tiles=4)
    system = shape.system()
    firing = ([1.0] * shape.tiles, [3.0] * shape.tiles)
    for processes in (1, 2, 4):
        where = process_of_tiles(shape.tiles, processes)
        pairs = 0
        for spec in system.actors:
            src = int(spec.name[1:])
            for dst in sheet_actors.SheetTile.peers_for(spec.name, spec.params):
                pairs += where[int(dst[1:])] != where[src]
        w = window_model.sheet_workload(shape, processes, firing)
        assert w["cross"] == pairs
        assert len(w["pushes"]) == processes
        # every process sends to every other one it reaches, in every window
        assert w["pushes"] == [pytest.approx(processes - 1)] * processes
        assert (w["cross"] == 0) == (processes == 1)


def test_a_silent_sheet_sends_nothing_and_pays_only_the_calls():
    shape = window_cost.SheetShape(size=16, synapses=4, seconds=1.0, tiles=4)
    params = window_model.Parameters(call_cpu_s=1e-4, wait_cpu_per_s=0.0, message_cpu_s={"push": (0.0, 0.0)},
                                     byte_cpu_s=0.0, route_cpu_s_per_event=1e-6, event_cpu_s=0.0,
                                     push_cpu_s=2e-4, call_latency_s=5e-4, push_latency_s=5e-4)
    costs = window_model.SheetCosts(1e-4, 0.0, 0.0, 0.0)
    row = window_model.predict_sheet(params, costs, shape, 4, "push", 2, ([0.0] * 4, [0.0] * 4))
    assert row["cross_events_per_window"] == 0 and row["pushes_per_window"] == 0
    assert row["driver_cpu_us_per_window"] == pytest.approx(400)      # four calls, nothing else
    assert row["host_cpu_us_per_window"] == pytest.approx(400)        # four tiles' ticks


def test_a_lateral_message_grows_by_sixteen_bytes_a_spike():
    one, two, ten = (window_model.sheet_event_bytes(k) for k in (1, 2, 10))
    assert two - one == 16 and ten - one == 9 * 16


def test_window_cost_sheet_flags_are_checked():
    with pytest.raises(SystemExit) as exc:
        window_cost.main(["--sheet", "--size", "8", "--tiles", "99"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        window_cost.main(["--sheet", "--system", "x:y"])
    assert exc.value.code == 2


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize("routing", ["push", "driver"])
def test_the_model_counts_what_the_executor_counts_on_the_sheet(routing):
    """A small sheet on Ray at P = 2 and 4: calls and cross-process messages per window are the
    model's exactly (from the inline run's firing), the driver's bytes within 10%, and the
    executor's driver-CPU parts add up to no more than its driver CPU."""
    out = window_cost.measure(SMALL.system(), [2, 4], routing, repeats=1, checkpoint_every=SMALL.checkpoint_every())
    fired = out["sheet_workload"]
    assert sum(fired["spikes"]) > 0
    params = window_model.Parameters(call_cpu_s=1e-4, wait_cpu_per_s=0.0,
                                     message_cpu_s={routing: (0.0, 0.0)}, byte_cpu_s=0.0,
                                     route_cpu_s_per_event=0.0, event_cpu_s=0.0, push_cpu_s=0.0,
                                     call_latency_s=0.0, push_latency_s=0.0)
    costs = window_model.SheetCosts(0.0, 0.0, 0.0)
    for row in out["rows"]:
        firing = window_model.firing_from_run(SMALL, fired, row["windows"])
        model = window_model.predict_sheet(params, costs, SMALL, row["processes"], routing, 2, firing)
        assert row["calls_per_window"] == pytest.approx(model["calls_per_window"], rel=0.02)
        assert row["cross_events_per_window"] == pytest.approx(model["cross_events_per_window"], rel=1e-9)
        assert row["driver_bytes_per_window"] == pytest.approx(model["driver_bytes_per_window"], rel=0.1)
        parts = row["driver_sections_us_per_window"]
        assert set(parts) == {"submit_cpu_s", "wait_cpu_s", "absorb_cpu_s"}
        assert 0 < sum(parts.values()) <= row["driver_cpu_us_per_window_runs"][0] * 1.001


def test_the_model_refuses_sheet_and_grid_runs_mixed(tmp_path):
    import json
    sheet_run = tmp_path / "sheet.json"
    sheet_run.write_text(json.dumps({"sheet": {"size": 16, "synapses": 20, "seconds": 1.0, "tiles": 4}, "rows": []}))
    grid_run = tmp_path / "grid.json"
    grid_run.write_text(json.dumps({"workload": {"side": 8, "steps": 100, "messages": 4, "payload_bytes": 256},
                                    "rows": []}))
    with pytest.raises(SystemExit) as exc:
        window_model.main(["--measured", f"push={sheet_run}", f"before={grid_run}"])
    assert exc.value.code == 2
