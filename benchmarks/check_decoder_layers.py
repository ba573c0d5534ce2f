"""Print the GPU model against the whole decoder layers measured on a lent H200.

    .venv/bin/python benchmarks/check_decoder_layers.py            # packaged data
    .venv/bin/python benchmarks/check_decoder_layers.py FILE.json  # a new run of
                                    # benchmarks/device/measure_decoder_layers.py

Nothing is fitted here: the H200 preset's efficiencies come from single-kernel data only.
"""
import json
import sys

import numpy as np

from lolpim.hardware.gpu import load_gpu
from lolpim.hardware.gpu_layer_check import compare_layers

KINDS = {
    "fc": "4 weight GEMMs in sequence",
    "attention": "attention inside the layer",
    "fused_layer": "whole layer, element-wise fused (torch.compile)",
    "eager_layer": "whole layer, eager PyTorch (~30 kernels; the model assumes fused)",
    "prefill_fc": "prefill: 4 weight GEMMs in sequence",
    "fused_prefill_layer": "prefill layer, element-wise fused (torch.compile)",
    "prefill_layer": "prefill layer, eager PyTorch",
}


def main():
    data = json.load(open(sys.argv[1])) if len(sys.argv) > 1 else None
    rows = compare_layers(load_gpu("h200"), data)
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
