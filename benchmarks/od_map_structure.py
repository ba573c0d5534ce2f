"""How much the stored OD maps' neighbours share their eye: the spatial-structure statistics of
`om.spatial_structure` (nearest-neighbour correlation, the radial autocorrelation's first trough and
the wavelength it gives), read from each stored map's per-neuron CSV, beside the statistics the run
itself reported (Sarle's coefficient, the radial spectrum's largest bin).

    .venv/bin/python benchmarks/od_map_structure.py [--docs]

The maps are those under docs/figures/od_map/ (MAPS below names each one's preset, seed and role).
Each map's recomputed Sarle coefficient and largest-bin wavelength must equal the ones its run
stored (so the CSV is that run's map); with --docs the run's JSON summary gains the new fields, its
figure is drawn again (with the autocorrelation panel) and the table goes into docs/od-map.md
(block `od-map-structure`). Nothing is simulated here.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
from lolpim.models.plasticity import od_map as om
from lolpim.orchestration.plasticity import od_map as cli
from lolpim.orchestration.results import write_text

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures" / "od_map"
DOCS = ROOT / "docs" / "od-map.md"

# folder -> (what the row is, its role). "acceptance": the rows issue 24's criterion names (seeds
# 0-2), run before this statistic existed; "held-out": run after it was committed (913e7a4),
# never used for any choice; "control": no synaptic conservation.
MAPS = {
    "size64_subtractive_seed0": ("64 x 64, S = 100, 80 s", "acceptance (statistic added after)"),
    "size64_subtractive_seed1": ("64 x 64, S = 100, 80 s", "acceptance (statistic added after)"),
    "size64_subtractive_seed2": ("64 x 64, S = 100, 80 s", "acceptance (statistic added after)"),
    "size64_subtractive_seed5": ("64 x 64, S = 100, 80 s", "held-out"),
    "size64_subtractive_seed6": ("64 x 64, S = 100, 80 s", "held-out"),
    "size64_subtractive_seed7": ("64 x 64, S = 100, 80 s", "held-out"),
    "size64_none_seed0": ("64 x 64, S = 100, 80 s, no conservation", "control"),
    "size64_lateral-off_seed0": ("64 x 64, S = 100, 80 s, lateral connections off", "control"),
    "subtractive_seed0": ("16 x 16, S = 40, 80 s", "consistency (small sheet)"),
    "subtractive_seed1": ("16 x 16, S = 40, 80 s", "consistency (small sheet)"),
    "subtractive_seed2": ("16 x 16, S = 40, 80 s", "consistency (small sheet)"),
    "none_seed0": ("16 x 16, S = 40, 80 s, no conservation", "control"),
}


def read_map(folder: Path) -> tuple[dict, dict]:
    """(the run's JSON, per-neuron columns of its CSV as arrays)."""
    run = json.loads((folder / "od_map.json").read_text())
    with open(folder / "od_map.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols = {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}
    return run, cols


def analyse(folder: Path) -> dict:
    run, cols = read_map(folder)
    s = run["summary"]
    size = int(s["size"])
    # the CSV is row-major by neuron id (x fastest), as map_summary expects
    order = np.lexsort((cols["x"], cols["y"]))
    left, right = cols["w_left"][order], cols["w_right"][order]
    new = om.map_summary(left, right, size)
    for key in ("od_bimodality", "od_wavelength_neurons"):
        if not math.isclose(new[key], s[key], rel_tol=1e-9):
            raise SystemExit(f"{folder.name}: {key} recomputed from the CSV is {new[key]}, the run stored {s[key]}")
    index = om.od_index(left, right).reshape(size, size)
    shift = None
    if "od_index_lid_suture" in cols:
        shift = (cols["od_index_lid_suture"][order] - cols["od_index_binocular"][order]).reshape(size, size)
    added = {**{key: new[key] for key in cli.STRUCTURE_FIELDS}, "structure_statistic": cli.STRUCTURE_STATISTIC}
    return {"run": run, "summary": {**s, **added},
            "structure": om.spatial_structure(index), "index": index, "shift": shift, "size": size}


def table(rows: list[tuple[str, dict]]) -> str:
    head = ["map", "seed", "role", "Sarle", "spectrum's largest bin (neurons)",
            "nearest-neighbour correlation (z vs shuffled)", "autocorrelation at 1 / 2 / 3 neurons",
            "first trough (z)", "autocorrelation wavelength (neurons)",
            "a map of isotropic columns of that wavelength: nearest-neighbour correlation"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, a in rows:
        s, st = a["summary"], a["structure"]
        what, role = MAPS[name]
        wl = st["autocorrelation_wavelength_neurons"]
        acf = st["autocorrelation"]
        lines.append("| " + " | ".join([
            what, str(s["seed"]), role, f"{s['od_bimodality']:.3f}", f"{s['od_wavelength_neurons']:.1f}",
            f"{st['neighbour_correlation']:.3f} ({st['neighbour_correlation_z']:.1f})",
            " / ".join(f"{v:+.3f}" for v in acf[1:4]),
            f"{st['trough']:+.3f} at {st['trough_distance']:.2f} ({st['trough_z']:.1f})" if wl else "none",
            f"{wl:.2f}" if wl else "n/a",
            f"{om.column_neighbour_correlation(wl):.2f}" if wl else "n/a"]) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", action="store_true", help="update the runs' JSON and figures, and docs/od-map.md")
    args = ap.parse_args()
    rows = [(name, analyse(FIGURES / name)) for name in MAPS if (FIGURES / name / "od_map.csv").exists()]
    missing = [name for name in MAPS if not (FIGURES / name / "od_map.csv").exists()]
    body = ("Read from each map's stored CSV by benchmarks/od_map_structure.py (nothing simulated); "
            "z: in standard deviations of the same map shuffled in space (no structure)"
            + (f"; not stored: {', '.join(missing)}" if missing else "") + "\n\n" + table(rows))
    print(body)
    if args.docs:
        from docs_figures import write_block   # benchmarks/ is on sys.path when run as a script
        for name, a in rows:
            folder = FIGURES / name
            write_text(folder / "od_map.json", json.dumps({**a["run"], "summary": a["summary"]}, indent=1))
            cli.draw(a["index"], a["shift"], a["summary"], a["run"]["lateral"], folder / "od_map.png", a["size"])
        write_block(DOCS, "od-map-structure", body)


if __name__ == "__main__":
    main()
