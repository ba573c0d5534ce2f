"""Refit the GPU preset efficiencies from measured microbenchmarks and print the held-out errors.

    .venv/bin/python benchmarks/calibrate_gpu.py                  # fit + every row's error
    .venv/bin/python benchmarks/calibrate_gpu.py --write          # also store the fit in the presets
    .venv/bin/python benchmarks/calibrate_gpu.py --microbench my_h200.json

The split between calibration and held-out rows is fixed in lolpim.hardware.gpu.calibration.
--write updates the calibrated lines of h200.toml and, because no other GPU was measured, the
same lines of h100-sxm.toml and a100-80gb.toml (their datasheet lines stay as they are), except
the A100's decode attention, fitted on published A100 measurements (printed below too).
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from lolpim.hardware.gpu.model import gpu_names, load_gpu
from lolpim.hardware.gpu.calibration import (a100_attention_predictions, fit_a100_attention, load_microbench,
                                             predictions, refit)
from lolpim.hardware.toml_presets import PRESET_ROOT

CALIBRATED = ("kernel_overhead_s", "attention_overhead_s", "gemv_bandwidth_efficiency",
              "attention_bandwidth_efficiency", "gemm_compute_efficiency", "prefill_attention_overhead_s",
              "prefill_attention_compute_efficiency")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--microbench", help="measured JSON (default: the packaged H200 file)")
    parser.add_argument("--write", action="store_true", help="store the fitted values in the GPU presets")
    args = parser.parse_args()

    mb = load_microbench(args.microbench)
    spec = refit(load_gpu("h200"), mb)
    print(f"fitted on the calibration rows of {args.microbench or 'hardware/gpu/data/h200_decode_microbench.json'}:")
    for field in CALIBRATED:
        print(f"  {field} = {getattr(spec, field)!r}")

    print(f"\n{'kind':<18}{'row':<34}{'measured':>12}{'predicted':>12}{'error':>9}  set")
    for p in predictions(spec, mb):
        print(f"{p.kind:<18}{p.label:<34}{p.measured:>12.4g}{p.predicted:>12.4g}{p.error:>+9.1%}  "
              f"{'held out' if p.held_out else 'fit'}")
    for kinds, label in ((("gemv",), "GEMV"), (("attention",), "attention"), (("gemv", "attention"), "all"),
                         (("prefill_attention",), "prefill attention")):
        errs = [abs(p.error) for p in predictions(spec, mb) if p.held_out and p.kind in kinds]
        print(f"held-out {label:<18} rows {len(errs):>3}  median |error| {np.median(errs):.1%}  "
              f"max {max(errs):.1%}")

    a100 = {k: float(f"{v:.4g}") for k, v in fit_a100_attention().items()}
    a100["attention_overhead_s"] = 0.0     # the saturating curve holds the fixed costs
    print("\nA100 decode attention, fitted on published measurements (data/a100_published_decode_attention.json):")
    for field, value in a100.items():
        print(f"  {field} = {value!r}")
    rows = a100_attention_predictions(load_gpu("a100-80gb"))
    for p in rows:
        print(f"{p.label:<60}{p.measured * 1e6:>10.2f} us{p.predicted * 1e6:>10.2f} us{p.error:>+9.1%}  "
              f"{'held out' if p.held_out else 'fit'}")
    held = [abs(p.error) for p in rows if p.held_out and "vllm" not in p.label]
    print(f"held-out A100 FlashInfer rows {len(held)}  median |error| {np.median(held):.1%}  max {max(held):.1%}")

    if args.write:
        for name in gpu_names():
            path = PRESET_ROOT / "gpu" / f"{name}.toml"
            text = path.read_text()
            values = {field: getattr(spec, field) for field in CALIBRATED}
            if name == "a100-80gb":
                values.update(a100)
            for field, value in values.items():
                text = re.sub(rf"^{field} = .*$", f"{field} = {value!r}", text, flags=re.M)
            Path(path).write_text(text)
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
