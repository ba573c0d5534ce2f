"""The time course of one OD grid point: each eye's difference from the binocular control under lid
suture, second by second over the deprivation interval (the curves whose half-times decide "the
deprived eye first", docs/plasticity-cascade.md section 3).

    .venv/bin/python benchmarks/od_course.py --synapses 50 --seed 2 [--every 3]

Runs the point's binocular phase and its deprivation conditions (orchestration/plasticity/
od_controls.experiment with specificity=False: the same runs as the grid's, so the same
half-times), inline, with the validate rows' protocol (K, deprivation, parameter set).
"""
from __future__ import annotations

import argparse

import numpy as np


def course(synapses: int, seed: int) -> dict:
    from lolpim.actors.kernel.inline import InlineExecutor
    from lolpim.models.plasticity import cascade
    from lolpim.models.plasticity import ocular_dominance as od
    from lolpim.orchestration.anchors import plasticity as anchors
    from lolpim.orchestration.plasticity import od_controls
    variant = od.load_variant("network")
    cfg = od.OcularDominanceConfig(neurons=anchors.OD_NEURONS, synapses_per_eye=synapses,
                                   deprivation_s=anchors.OD_DEPRIVATION_S, contrast_spread=variant.contrast_spread)
    runner = od_controls.Runner(InlineExecutor(), cascade.load_params(anchors.OD_PARAMS), variant, seed)
    out = od_controls.experiment(runner, cfg, od.SteadyState(), specificity=False)
    start = out["summary"]["steady_state"]["binocular_s"]
    end = start + cfg.deprivation_s

    def relative(run: dict, eye: str) -> tuple[np.ndarray, np.ndarray]:
        t, w = np.asarray(run["series"]["time_s"]), np.asarray(run["series"][f"w_{eye}"])
        inside = (t >= start - 1e-9) & (t <= end + 1e-9)
        return t[inside] - start, w[inside] / w[inside][0] - 1.0

    lid, control = out["runs"]["lid_suture"], out["runs"]["binocular"]
    t = relative(lid, "left")[0]
    diff = {key: relative(lid, eye)[1] - relative(control, eye)[1] for key, eye in (("deprived", "left"),
                                                                                   ("open", "right"))}
    summary = out["summary"]["controls"]["lid_suture"]
    return {"time_s": t, **diff, "deprived_half_time_s": summary["deprived_half_time_s"],
            "open_half_time_s": summary["open_half_time_s"]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synapses", type=int, required=True, help="S, synapses per eye")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--every", type=int, default=3, help="print every this many samples (default 3)")
    args = ap.parse_args(argv)
    c = course(args.synapses, args.seed)
    print(f"S = {args.synapses}, seed {args.seed}: half-times deprived {c['deprived_half_time_s']} s, "
          f"open {c['open_half_time_s']} s")
    print("time after onset (s) | deprived eye vs control (%) | open eye vs control (%)")
    for i in range(0, c["time_s"].size, args.every):
        print(f"{c['time_s'][i]:5.0f} | {100 * c['deprived'][i]:+6.2f} | {100 * c['open'][i]:+6.2f}")


if __name__ == "__main__":
    main()
