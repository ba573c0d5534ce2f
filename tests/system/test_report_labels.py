"""What the main job's table, JSON, files and plot say (issue 13, points 2, 8, 9, 14): the
hardware each system really has, decode-only vs simulated prefill, J/token, KV allocated next
to KV used, the definition of the speedup, and result files that follow the user's umask."""
import json
import os
import stat

import pytest

from lolpim.orchestration.cli import main

SMALL = ["--set", "model=llama2-7b", "--set", "workload.source=fixed", "--set", "workload.input_tokens=3000",
         "--set", "workload.output_tokens=12", "--set", "workload.requests=6", "--executor", "inline"]


def _run(capsys, *args):
    assert main(["run", *SMALL, *args]) == 0
    return capsys.readouterr().out


def test_header_and_json_give_the_hardware_each_system_has(capsys):
    # 24 modules = 384 GiB while pim_capacity_gib stays 128: the old header said "128 GB of PIM"
    args = ["--set", "lolpim.modules=24", "--set", "lolpim.tensor_parallel=8",
            "--set", "systems=lolpim,gpu,gpu-pim,cent"]
    out = _run(capsys, *args)
    assert "128 GB of PIM" not in out and " GB" not in out.replace("GiB", "")
    assert "24 x lolpim-module, 384 GiB PIM" in out
    assert "8 x cent-module, 128 GiB PIM" in out
    assert "2 x a100-80gb, 160 GiB HBM" in out
    assert "2 x a100-80gb + 2 x attacc-bg (4 stacks), 160 GiB HBM + 128 GiB HBM-PIM" in out
    result = json.loads(_run(capsys, *args, "--json"))
    assert result["hardware"]["lolpim"] == "24 x lolpim-module, 384 GiB PIM"
    assert not [k for s in result["systems"] for k in s if k.endswith("_gb")]   # one unit: GiB
    lolpim = result["systems"][0]["hardware"]
    assert lolpim["memory_gib"] == 384 and lolpim["devices"] == [
        {"count": 24, "model": "lolpim-module", "memory": "PIM", "gib_each": 16.0, "gib": 384.0,
         "power_w_each": 50.5, "power_w": 24 * 50.5}]


def test_iso_power_view_in_table_json_and_plot(tmp_path, capsys, monkeypatch):
    """Issue 21 item 9: each system's power budget (the presets' power_w / tdp_w / stack_power_w,
    times the devices it has) and tokens/s per watt, in the JSON, the table and the plot."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lolpim.hardware.gpu.model import load_gpu
    from lolpim.hardware.hbm_pim import load_hbm_pim
    from lolpim.hardware.pim import load_pim_module
    seen = {}
    monkeypatch.setattr(plt, "close", lambda fig: seen.setdefault("fig", fig))
    result = json.loads(_run(capsys, "--set", "systems=lolpim,gpu,gpu-pim,cent", "--json", "--out", str(tmp_path)))
    power = {s["system"]: s["power_w"] for s in result["systems"]}
    gpu = load_gpu("a100-80gb")
    assert power["lolpim"] == 8 * load_pim_module("lolpim-module").power_w
    assert power["cent"] == 8 * load_pim_module("cent-module").power_w
    assert power["gpu"] == 2 * gpu.tdp_w == 800
    assert power["gpu-pim"] == pytest.approx(2 * gpu.tdp_w + 2 * 4 * load_hbm_pim("attacc-bg").stack_power_w)
    for s in result["systems"]:
        assert s["tokens_per_s_per_w"] == pytest.approx(s["throughput_tokens_per_s"] / s["power_w"])
        assert s["hardware"]["power_w"] == s["power_w"]
    assert result["power_definition"].startswith("tok/s/W = tok/s / power budget")
    out = _run(capsys, "--set", "systems=lolpim,gpu")
    assert "tok/s/W" in out and "tok/s/W = tok/s / power budget" in out
    labels = [ax.get_ylabel() for ax in seen["fig"].axes]
    assert "power budget [W]" in labels and "throughput per watt [output tokens/s/W]" in labels


def test_table_stays_within_120_columns(capsys):
    for extra in ([], ["--set", "prefill=inline"]):
        out = _run(capsys, *extra)
        assert max(len(line) for line in out.splitlines()) <= 120, out


def test_decode_only_runs_name_the_first_token_delay_a_queue_wait(capsys):
    out = _run(capsys, "--set", "systems=lolpim,gpu")
    assert "decode-only" in out and "queue wait s" in out and "TTFT" not in out
    result = json.loads(_run(capsys, "--set", "systems=lolpim,gpu", "--json"))
    assert result["decode_only"] is True and result["prefill"] == "before"
    out = _run(capsys, "--set", "systems=lolpim,gpu", "--set", "prefill=inline")
    assert "decode-only" not in out and "TTFT mean s" in out and "queue wait" not in out
    result = json.loads(_run(capsys, "--set", "systems=lolpim,gpu", "--set", "prefill=inline", "--json"))
    assert result["decode_only"] is False
    assert all(s["ttft_mean_s"] > 0 for s in result["systems"])


def test_table_shows_joules_per_token_and_defines_the_speedup(capsys):
    out = _run(capsys, "--set", "systems=lolpim,gpu")
    assert "J/token" in out and "speedup = LoL-PIM's tok/s / the row's tok/s" in out
    result = json.loads(_run(capsys, "--set", "systems=lolpim,gpu", "--json"))
    assert result["speedup_definition"].startswith("speedup = LoL-PIM's tok/s")
    for s in result["systems"]:
        assert s["energy_per_token_j"] == pytest.approx(s["energy_j"] / s["output_tokens"])
        assert f"{s['energy_per_token_j']:.3f}" in out


def test_plot_shows_energy_kv_allocated_and_hardware(tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lolpim.orchestration.llm import compare
    seen = {}
    monkeypatch.setattr(plt, "close", lambda fig: seen.setdefault("fig", fig))
    assert main(["run", *SMALL, "--set", "lolpim.modules=8", "--set", "systems=lolpim,cent", "--json",
                 "--out", str(tmp_path)]) == 0
    fig = seen["fig"]
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "energy [J/output token]" in labels and "KV capacity [%]" in labels
    kv = fig.axes[labels.index("KV capacity [%]")]
    assert [t.get_text() for t in kv.get_legend().get_texts()] == ["used", "allocated"]
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks[0] == "lolpim\n8 x lolpim-module\n128 GiB PIM"
    texts = " ".join(t.get_text() for t in fig.texts) + fig._suptitle.get_text()
    assert compare.SPEEDUP_DEFINITION in texts and "decode-only" in texts
    assert "GB " not in texts.replace("GiB", "")


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_out_files_follow_the_umask(tmp_path, capsys, umask):
    old = os.umask(umask)
    try:
        assert main(["run", *SMALL, "--set", "systems=lolpim", "--json", "--out", str(tmp_path)]) == 0
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert set(modes) == {"comparison.json", "comparison.csv", "requests.csv", "comparison.png"}
    assert modes == dict.fromkeys(modes, 0o666 & ~umask)


def test_csv_files_carry_the_hardware_label_and_the_queue_wait(tmp_path, capsys):
    import csv
    assert main(["run", *SMALL, "--set", "systems=lolpim", "--json", "--out", str(tmp_path)]) == 0
    row = next(csv.DictReader((tmp_path / "comparison.csv").open()))
    assert row["hardware"] == "8 x lolpim-module, 128 GiB PIM"
    request = next(csv.DictReader((tmp_path / "requests.csv").open()))
    assert "queue_wait_s" in request and "ttft_s" not in request


def test_readme_main_job_block_has_the_table_the_code_prints():
    """The README pastes `make run`'s output: its column line, definitions and header wording
    must be what format_table prints now (the numbers come from a real run, not checked here)."""
    from pathlib import Path

    from lolpim.orchestration.llm import compare
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("```\nqwen1.5-7b, trace longbench-qmsum", 1)[1].split("```", 1)[0]
    heads = [c[1] for c in compare.columns(decode_only=True)]
    column_line = next(line for line in block.splitlines() if line.startswith("system "))
    assert column_line.split() == " ".join(heads).split()
    assert compare.DECODE_ONLY in block and compare.SPEEDUP_DEFINITION in block
    assert compare.ENERGY_DEFINITION in block and "8 x lolpim-module, 128 GiB PIM" in block
    assert compare.POWER_DEFINITION in block


def test_comparison_plot_labels_do_not_overlap_at_six_systems(tmp_path):
    """Issue 25 item 7: with 5-6 systems the hardware labels under the bars overlapped. Render the
    plot of six systems and check that no two tick labels (and no speedup note) share any area."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lolpim.orchestration import config
    from lolpim.orchestration.llm import compare
    from lolpim.orchestration.llm.config import RunConfig
    cfg = config.load(RunConfig, None, ["workload.source=fixed", "workload.requests=2", "workload.input_tokens=2048",
                                        "workload.output_tokens=2"])
    result = compare.run_systems(cfg, ("lolpim", "neupims", "lolpim-xpu", "cent", "gpu", "gpu-pim"), "inline", 0)
    figures = []
    real_close = plt.close
    monkey_close = lambda fig=None: figures.append(fig)   # keep the figure to measure it
    plt.close = monkey_close
    try:
        compare.plot(result, tmp_path / "six.png")
    finally:
        plt.close = real_close
    fig = figures[0]
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
        boxes += [t.get_window_extent(renderer) for t in ax.texts]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not a.overlaps(b), (ax.get_ylabel(), a, b)
    real_close(fig)
