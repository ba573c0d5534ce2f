"""Accepted sizes have bounded costs (issue 26, class 4): a huge sweep grid is refused at once,
counted before any point is built (a 10**6-point grid was checked for minutes), with the way to
raise the cap; `lolpim plot` refuses more points than a figure can show (100k took minutes and
4.4 GB); a Ray process count whose processes (~210 MB each) exceed the machine's memory is
refused by name. In this process, fast."""
import json
import time

import pytest

from lolpim.orchestration.cli import main


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_huge_sweep_grid_is_refused_at_once_and_says_how_to_raise_the_cap(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    axis = lambda n: str(list(range(1, n + 1)))
    (tmp_path / "s.toml").write_text(f'[grid]\nsystem = ["lolpim"]\nmodules = {axis(1000)}\n'
                                     f'"workload.requests" = {axis(1000)}\n')
    t0 = time.perf_counter()
    assert main(["sweep", "s.toml", "--serial"]) == 2
    assert time.perf_counter() - t0 < 5
    line = _one_line(capsys)
    assert "1,000,000 points" in line and "max_points = 1000000" in line
    # the cap is the file's to raise (and to lower: here below the grid's 6 points)
    (tmp_path / "s.toml").write_text('max_points = 5\n[grid]\nsystem = ["lolpim"]\nmodules = [1, 2, 4, 8, 16, 32]\n')
    assert main(["sweep", "s.toml", "--serial"]) == 2
    assert "over the cap of 5" in _one_line(capsys)


def test_plot_refuses_more_points_than_a_figure_shows(tmp_path, capsys, monkeypatch):
    from lolpim.orchestration.commands import plot
    monkeypatch.setattr(plot, "MAX_PLOT_POINTS", 3)
    rec = {"status": "ok", "seed": 0, "model": "llama2-7b",
           "result": {"system": "lolpim", "devices": 8, "stages": 8, "tpot_mean_s": 0.001, "kv_used_utilisation": 0.1,
                      "module_utilisation": 0.5, "events": 10, "wall_s": 0.1, "throughput_tokens_per_s": 100.0},
           "trace": {"trace": "fixed", "requests": 4, "mean_input_tokens": 512.0, "mean_output_tokens": 8.0}}
    lines = [json.dumps(dict(rec, id=str(m), point={"system": "lolpim", "modules": m})) for m in (1, 2, 4, 8)]
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["plot", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "p")]) == 2
    assert "4 plottable points, over the 3" in _one_line(capsys)
    assert not (tmp_path / "p" / "points.csv").exists()


@pytest.mark.parametrize("argv,flag", [(["run", "--max-processes", "4096", "--set", "system=lolpim"],
                                        "--max-processes"),
                                       (["plasticity", "ocular-dominance", "--executor", "ray", "--processes", "4096"],
                                        "--processes")])
def test_ray_process_counts_past_the_machines_memory_are_refused(argv, flag, capsys):
    assert main(argv) == 2
    line = _one_line(capsys)
    assert line.startswith(f"lolpim: error: {flag} 4096 needs about") and "210 MB per Ray process" in line, line


def test_one_ray_process_per_actor_is_checked_against_memory(monkeypatch):
    """Issue 26 class 4: `--max-processes 0` (a Ray process per simulated actor) was not checked;
    the count is known once the systems are built, and is refused there, before Ray starts."""
    from lolpim.core.errors import UserError
    from lolpim.orchestration import config, memory
    from lolpim.orchestration.llm.compare import run_systems
    from lolpim.orchestration.llm.config import RunConfig
    monkeypatch.setattr(memory, "machine_ram_bytes", lambda: 2 * 2**30)
    cfg = config.load(RunConfig, None, ["workload.requests=2", "workload.output_tokens=2"])
    with pytest.raises(UserError,
                       match=r"--max-processes 0 \(\d+ Ray processes\) needs about .* give --max-processes N"):
        run_systems(cfg, ("lolpim", "cent"), "ray", 0, max_processes=0)
