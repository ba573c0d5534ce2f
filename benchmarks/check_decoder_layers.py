"""Print the GPU model against the whole decoder layers measured on a lent H200.

    .venv/bin/python benchmarks/check_decoder_layers.py                 # packaged H200 data
    .venv/bin/python benchmarks/check_decoder_layers.py --gpu h100-sxm  # packaged H100 data
    .venv/bin/python benchmarks/check_decoder_layers.py --gpu h200 FILE.json [FILE.json]
                        # new runs of benchmarks/device/measure_decoder_layers.py

Nothing is fitted here: the H200 preset's efficiencies come from single-kernel data only.
"""
import argparse
import json

import numpy as np

from lolpim.hardware.gpu.model import load_gpu
from lolpim.hardware.gpu.layer_check import compare_layers

KINDS = {
    "fc": "4 weight GEMMs in sequence",
    "attention": "attention inside the layer",
    "fused_layer": "whole layer, element-wise fused (torch.compile)",
    "eager_layer": "whole layer, eager PyTorch (~30 kernels; the model assumes fused)",
    "whole_model": "whole-model decode step, fused, one CUDA graph (H200)",
    "prefill_fc": "prefill: 4 weight GEMMs in sequence",
    "fused_prefill_layer": "prefill layer, element-wise fused (torch.compile)",
    "prefill_layer": "prefill layer, eager PyTorch",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", default="h200", help="GPU preset to compare (h200, h100-sxm)")
    parser.add_argument("files", nargs="*", help="measured JSON files (default: the packaged ones)")
    args = parser.parse_args()
    data = None
    if args.files:
        loaded = [json.load(open(f)) for f in args.files]
        data = {**loaded[0], "rows": [r for d in loaded for r in d["rows"]]}
    rows = compare_layers(load_gpu(args.gpu), data)
    print(f"{'part':14s} {'row':36s} {'measured us':>12s} {'model us':>10s} {'error':>7s}")
    for r in rows:
        print(f"{r.kind:14s} {r.label:36s} {r.measured_s * 1e6:12.1f} {r.predicted_s * 1e6:10.1f} {r.error:+7.1%}")
    print()
    print(f"{'part':66s} {'rows':>4s} {'median |err|':>12s} {'max |err|':>9s} {'mean err':>8s}")
    for kind, text in KINDS.items():
        errors = np.array([r.error for r in rows if r.kind == kind])
        if errors.size:
            print(f"{text:66s} {errors.size:4d} {np.median(np.abs(errors)):12.1%} "
                  f"{np.abs(errors).max():9.1%} {errors.mean():+8.1%}")


if __name__ == "__main__":
    main()
