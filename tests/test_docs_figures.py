"""The numbers in docs/ are what the code gives: a few points of the generated tables are
rerun and compared with the docs' <!-- generated --> blocks (to the printed precision) and
with the plotted points.csv (to float precision); the other tables and CSVs must agree with
each other. When the simulator changes a number, regenerate with `make docs-figures`
(benchmarks/docs_figures.py)."""
import csv
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("docs_figures", ROOT / "benchmarks" / "docs_figures.py")
docs_figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(docs_figures)

REGEN = "stale docs: rerun `make docs-figures` (or benchmarks/docs_figures.py --parts {part})"


def _block_rows(part: str) -> list[list[str]]:
    _, _, md, block, head, _ = docs_figures.SWEEPS[part]
    body = docs_figures.read_block(ROOT / md, block)
    assert body.splitlines()[0] == "| " + " | ".join(head) + " |"
    return docs_figures.parse_markdown(body)


def _points_csv(part: str) -> list[dict]:
    with open(ROOT / docs_figures.SWEEPS[part][1] / "points.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.parametrize("part, workload, modules", [("traces", "longbench-qmsum", 4),
                                                     ("traces", "longbench-musique", 32),
                                                     ("scaling", 4096, 4)])
def test_documented_point_matches_a_fresh_run(part, workload, modules):
    from lolpim.orchestration.sweep import load_sweep, run_point
    sweep = load_sweep(ROOT / docs_figures.SWEEPS[part][0])
    key = "trace" if part == "traces" else "context"
    points = [p for p in sweep.points() if p[key] == workload and p["modules"] == modules]
    assert sorted(p["system"] for p in points) == ["cent", "lolpim"]
    records = [run_point(sweep, p) for p in points]
    assert all(r["status"] == "ok" for r in records), records
    fresh = docs_figures.SWEEPS[part][5](records)
    assert len(fresh) == 1
    documented = [r for r in _block_rows(part) if r[0] == str(workload) and r[1] == str(modules)]
    assert documented == fresh, REGEN.format(part=part)
    for rec in records:   # the figures' data, to float precision
        row = next(r for r in _points_csv(part) if r["system"] == rec["result"]["system"]
                   and r[f"axis_{key}"] == str(workload) and r["axis_modules"] == str(modules))
        assert float(row["throughput_tokens_per_s"]) == pytest.approx(
            rec["result"]["throughput_tokens_per_s"], rel=1e-9), REGEN.format(part=part)


@pytest.mark.parametrize("part", ["scaling", "traces"])
def test_tables_agree_with_the_plotted_points(part):
    """Every row of the markdown table has the tok/s of docs/figures/<part>/points.csv."""
    key = "trace" if part == "traces" else "context"
    csv_rows = _points_csv(part)
    rows = _block_rows(part)
    assert len(rows) * 2 == len(csv_rows)
    for row in rows:
        for system, col in (("lolpim", 2), ("cent", 3)):
            match = [r for r in csv_rows if r["system"] == system and r[f"axis_{key}"] == row[0]
                     and r["axis_modules"] == row[1]]
            assert len(match) == 1, (row, system)
            assert f"{float(match[0]['throughput_tokens_per_s']):.0f}" == row[col], REGEN.format(part=part)


def test_speedups_table_is_the_benchmark_csv():
    """docs/lolpim-system.md's speedup table renders docs/figures/lolpim_speedups.csv, and the
    benchmark's printed output (lolpim_speedups.txt) has the same ratios."""
    csv_rows = docs_figures.read_csv(ROOT / "docs/figures/lolpim_speedups.csv")
    body = docs_figures.read_block(ROOT / "docs/lolpim-system.md", "lolpim-speedups-table")
    assert body == docs_figures.markdown(docs_figures.SPEEDUPS_HEAD, docs_figures.speedups_rows(csv_rows)), \
        REGEN.format(part="speedups")
    txt = (ROOT / "docs/figures/lolpim_speedups.txt").read_text()
    for r in csv_rows:
        ratios = ", ".join(f"{float(r[f'steady_speedup_vs_{k}']):.2f}x ({float(r[f'e2e_speedup_vs_{k}']):.2f}x)"
                           for k in ("gpu", "gpu-pim", "cent"))
        assert ratios in txt, (r["model"], r["trace"])


def test_marker_blocks_round_trip(tmp_path):
    md = tmp_path / "x.md"
    md.write_text("a\n<!-- generated: t (note) -->\n| old |\n<!-- end generated -->\nb\n")
    assert docs_figures.write_block(md, "t", "| new |\n")
    assert md.read_text() == "a\n<!-- generated: t (note) -->\n| new |\n<!-- end generated -->\nb\n"
    assert not docs_figures.write_block(md, "t", "| new |\n")
    with pytest.raises(KeyError):
        docs_figures.write_block(md, "missing", "")


def test_preset_and_hebbian_hook_blocks_are_current():
    """Issue 22: the PIM preset table and the Hebbian hook's figures were typed by hand and went
    stale (a 16 x 16 lolpim-module, 0.87 uJ); both are generated now and must match the code."""
    for md, block, body in (("docs/hardware-pim.md", "pim-presets-table", docs_figures.presets_table()),
                            ("docs/hebbian.md", "hebbian-pim-hook", docs_figures.hebbian_hook_text())):
        assert docs_figures.read_block(ROOT / md, block) == body, REGEN.format(part="presets")


def test_no_file_points_outside_the_repository():
    """Issue 22: docs and code cite docs/anchors.md, never the development folder beside the repo."""
    import subprocess
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    here = Path(__file__).resolve()
    bad = [f for f in tracked if (ROOT / f).is_file() and (ROOT / f).resolve() != here
           and f.endswith((".py", ".md", ".toml", ".txt", ".cfg", ".yaml", ".yml"))
           and ("../" + "shared" in (ROOT / f).read_text(errors="ignore")
                or re.search(r"\bANCHORS\b", (ROOT / f).read_text(errors="ignore")))]
    assert not bad, f"files pointing outside the repository: {bad}"
def test_gpu_pim_capacity_table_is_the_benchmark_csv():
    """docs/hardware-gpu.md's GPU+PIM capacity table renders docs/figures/gpu_pim_capacity.csv."""
    csv_rows = docs_figures.read_csv(ROOT / "docs/figures/gpu_pim_capacity.csv")
    body = docs_figures.read_block(ROOT / "docs/hardware-gpu.md", "gpu-pim-capacity-table")
    assert body == docs_figures.markdown(docs_figures.GPU_PIM_HEAD, docs_figures.gpu_pim_rows(csv_rows)), \
        REGEN.format(part="gpu-pim")


@pytest.mark.slow
@pytest.mark.parametrize("placement", ["best", "hbm-pim"])
def test_gpu_pim_capacity_point_matches_a_fresh_run(placement):
    """One point of the GPU+PIM capacity study (Llama-3.1-8B, 2 stacks per GPU), simulated again."""
    spec_ = importlib.util.spec_from_file_location("gpu_pim_capacity", ROOT / "benchmarks" / "gpu_pim_capacity.py")
    study = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(study)
    row = next(r for r in docs_figures.read_csv(ROOT / "docs/figures/gpu_pim_capacity.csv")
               if r["model"] == "llama3.1-8b" and r["stacks_per_device"] == "2" and r["placement"] == placement)
    fresh = study.simulate(row["model"], row["trace"], int(row["gpus"]), 32, "gpu-pim",
                           ["gpu_pim.stacks_per_device=2", f"gpu_pim.attention_placement={placement}"])
    assert f"{fresh['throughput_tokens_per_s']:.1f}" == row["gpu_pim_tok_s"], REGEN.format(part="gpu-pim")


def test_window_cost_sheet_block_is_what_the_stored_measurements_give():
    """docs/scaling.md's sheet window table is the model applied to docs/figures/window_cost_sheet.json
    (`benchmarks/docs_figures.py --parts window-cost-sheet --tables-only` rewrites it)."""
    import json
    import sys
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import window_model
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    stored = json.loads((ROOT / window_model.SHEET_STORED).read_text())
    assert docs_figures.read_block(ROOT / "docs/scaling.md", "window-cost-sheet-table") == \
        window_model.sheet_tables(stored) + "\n", REGEN.format(part="window-cost-sheet")
    # the counts the model derives from the tile layout and the run's firing are the executor's
    rows = window_model.compare_sheet(window_model.Parameters(**stored["parameters"]),
                                      window_model.SheetCosts(**stored["sheet_costs"]), stored["measured"],
                                      window_model.SHEET_SHAPE, stored["cores"])
    assert len(rows) == 6
    for row in rows:
        m, model = row["measured"], row["model"]
        assert model["calls_per_window"] == pytest.approx(m["calls_per_window"], rel=0.02)
        assert model["cross_events_per_window"] == pytest.approx(m["cross_events_per_window"], rel=1e-9)
        assert model["driver_bytes_per_window"] == pytest.approx(m["driver_bytes_per_window"], rel=0.2)


def test_window_cost_block_is_what_the_stored_measurements_give():
    """docs/scaling.md's window-cost table is the model applied to docs/figures/window_cost.json
    (`benchmarks/docs_figures.py --parts window-cost --tables-only` rewrites it)."""
    import json
    import sys
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import window_model
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    stored = json.loads((ROOT / window_model.STORED).read_text())
    params = window_model.Parameters(**stored["parameters"])
    rows = window_model.compare(params, stored["measured"], window_model.GridShape(**window_model.DOC_SHAPE))
    body = window_model.markdown(params, rows, window_model.project(params),
                                 f"{stored['cores']} cores, load {stored['load'][0]:.1f}")
    assert docs_figures.read_block(ROOT / "docs/scaling.md", "window-cost-table") == body + "\n", \
        REGEN.format(part="window-cost")
    # the counts the model derives from the partition are the executor's: calls and driver bytes
    for row in rows:
        assert row["model"]["calls_per_window"] == pytest.approx(row["measured"]["calls_per_window"], rel=0.02)
        assert row["model"]["driver_bytes_per_window"] == pytest.approx(row["measured"]["driver_bytes_per_window"],
                                                                        rel=0.2)
